CREATE TABLE `oidc_auth_native_logins` (
	`code_challenge` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`nonce` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`redirect_uri` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`client` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`expires_at` bigint NOT NULL,
	CONSTRAINT `oidc_auth_native_logins_code_challenge` PRIMARY KEY(`code_challenge`)
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_peer_jwks` (
	`issuer` varchar(700) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`jwks` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`fetched_at` bigint NOT NULL,
	CONSTRAINT `oidc_auth_peer_jwks_issuer` PRIMARY KEY(`issuer`)
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_rate_limits` (
	`key` varchar(700) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`tokens` double NOT NULL,
	`updated_at` double NOT NULL,
	`full_at` double NOT NULL,
	`allowed` boolean NOT NULL,
	CONSTRAINT `oidc_auth_rate_limits_key` PRIMARY KEY(`key`)
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_retired_hashes` (
	`hash` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`session_id` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_sessions` (
	`id` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`subject` varchar(512) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`refresh_hash` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`previous_hash` varchar(255) character set utf8mb4 collate utf8mb4_bin,
	`retired_hashes` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`rotated_at` bigint,
	`rotation_answer` mediumtext character set utf8mb4 collate utf8mb4_bin,
	`rotation_lease` varchar(255) character set utf8mb4 collate utf8mb4_bin,
	`rotation_lease_until` bigint,
	`idp_refresh_token` mediumtext character set utf8mb4 collate utf8mb4_bin,
	`idp_access_token` mediumtext character set utf8mb4 collate utf8mb4_bin,
	`idp_access_expires_at` bigint,
	`claims` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`scope` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`created_at` bigint NOT NULL,
	`expires_at` bigint NOT NULL,
	CONSTRAINT `oidc_auth_sessions_id` PRIMARY KEY(`id`),
	CONSTRAINT `oidc_auth_sessions_refresh_hash_unique` UNIQUE(`refresh_hash`)
);
--> statement-breakpoint
CREATE TABLE `oidc_auth_signing_keys` (
	`kid` varchar(255) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`generation` int NOT NULL,
	`alg` varchar(32) character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`public_jwk` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`private_key` mediumtext character set utf8mb4 collate utf8mb4_bin NOT NULL,
	`created_at` bigint NOT NULL,
	`retired_at` bigint,
	CONSTRAINT `oidc_auth_signing_keys_kid` PRIMARY KEY(`kid`),
	CONSTRAINT `oidc_auth_signing_keys_generation_unique` UNIQUE(`generation`)
);
--> statement-breakpoint
CREATE INDEX `oidc_auth_native_logins_client_idx` ON `oidc_auth_native_logins` (`client`,`expires_at`);--> statement-breakpoint
CREATE INDEX `oidc_auth_native_logins_expires_at_idx` ON `oidc_auth_native_logins` (`expires_at`);--> statement-breakpoint
CREATE INDEX `oidc_auth_rate_limits_full_at_idx` ON `oidc_auth_rate_limits` (`full_at`);--> statement-breakpoint
CREATE INDEX `oidc_auth_retired_hashes_hash_idx` ON `oidc_auth_retired_hashes` (`hash`);--> statement-breakpoint
CREATE INDEX `oidc_auth_retired_hashes_session_idx` ON `oidc_auth_retired_hashes` (`session_id`);--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_subject_idx` ON `oidc_auth_sessions` (`subject`);--> statement-breakpoint
CREATE INDEX `oidc_auth_sessions_expires_at_idx` ON `oidc_auth_sessions` (`expires_at`);