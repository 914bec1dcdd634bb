CREATE TABLE `oidc_auth_used_ids` (
	`id` varbinary(1020) NOT NULL,
	`expires_at` bigint NOT NULL,
	CONSTRAINT `oidc_auth_used_ids_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `oidc_auth_sessions` ADD `idp_session_id` varbinary(1020);--> statement-breakpoint
CREATE INDEX `oidc_auth_used_ids_expires_at_idx` ON `oidc_auth_used_ids` (`expires_at`);--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_idp_session_id_idx` ON `oidc_auth_sessions` (`idp_session_id`);