CREATE TABLE `oidc_auth_native_logins` (
	`code_challenge` text PRIMARY KEY NOT NULL,
	`nonce` text NOT NULL,
	`redirect_uri` text NOT NULL,
	`client` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oidc_auth_native_logins_client_idx` ON `oidc_auth_native_logins` (`client`,`expires_at`);--> statement-breakpoint
CREATE INDEX `oidc_auth_native_logins_expires_at_idx` ON `oidc_auth_native_logins` (`expires_at`);--> statement-breakpoint
CREATE TABLE `oidc_auth_peer_jwks` (
	`issuer` text PRIMARY KEY NOT NULL,
	`jwks` text NOT NULL,
	`fetched_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_rate_limits` (
	`key` text PRIMARY KEY NOT NULL,
	`tokens` real NOT NULL,
	`updated_at` real NOT NULL,
	`full_at` real NOT NULL,
	`allowed` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oidc_auth_rate_limits_full_at_idx` ON `oidc_auth_rate_limits` (`full_at`);--> statement-breakpoint
CREATE TABLE `oidc_auth_retired_hashes` (
	`hash` text NOT NULL,
	`session_id` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `oidc_auth_retired_hashes_hash_idx` ON `oidc_auth_retired_hashes` (`hash`);--> statement-breakpoint
CREATE INDEX `oidc_auth_retired_hashes_session_idx` ON `oidc_auth_retired_hashes` (`session_id`);--> statement-breakpoint
CREATE TABLE `oidc_auth_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`subject` text NOT NULL,
	`refresh_hash` text NOT NULL,
	`previous_hash` text,
	`retired_hashes` text NOT NULL,
	`rotated_at` integer,
	`rotation_answer` text,
	`rotation_lease` text,
	`rotation_lease_until` integer,
	`idp_refresh_token` text,
	`idp_access_token` text,
	`idp_access_expires_at` integer,
	`claims` text NOT NULL,
	`scope` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oidc_auth_sessions_refresh_hash_unique` ON `oidc_auth_sessions` (`refresh_hash`);--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_subject_idx` ON `oidc_auth_sessions` (`subject`);--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_expires_at_idx` ON `oidc_auth_sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `oidc_auth_signing_keys` (
	`kid` text PRIMARY KEY NOT NULL,
	`generation` integer NOT NULL,
	`alg` text NOT NULL,
	`public_jwk` text NOT NULL,
	`private_key` text NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `oidc_auth_signing_keys_generation_unique` ON `oidc_auth_signing_keys` (`generation`);