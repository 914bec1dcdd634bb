CREATE TABLE `oidc_auth_used_ids` (
	`id` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oidc_auth_used_ids_expires_at_idx` ON `oidc_auth_used_ids` (`expires_at`);--> statement-breakpoint
ALTER TABLE `oidc_auth_sessions` ADD `idp_session_id` text;--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_idp_session_id_idx` ON `oidc_auth_sessions` (`idp_session_id`);