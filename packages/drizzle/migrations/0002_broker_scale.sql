CREATE TABLE "oidc_auth_native_logins" (
	"code_challenge" text PRIMARY KEY NOT NULL,
	"nonce" text NOT NULL,
	"redirect_uri" text NOT NULL,
	"client" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
DROP INDEX "oidc_auth_sessions_previous_hash_idx";--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "retired_hashes" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "rotation_lease" text;--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "rotation_lease_until" bigint;--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "idp_access_token" text;--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "idp_access_expires_at" bigint;--> statement-breakpoint
CREATE INDEX "oidc_auth_native_logins_client_idx" ON "oidc_auth_native_logins" USING btree ("client","expires_at");--> statement-breakpoint
CREATE INDEX "oidc_auth_native_logins_expires_at_idx" ON "oidc_auth_native_logins" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oidc_auth_sessions_retired_hashes_idx" ON "oidc_auth_sessions" USING gin ("retired_hashes");--> statement-breakpoint
CREATE INDEX "oidc_auth_sessions_subject_idx" ON "oidc_auth_sessions" USING btree ("subject");--> statement-breakpoint
-- Sessions rotated before this migration: the credential they replaced last counts as retired.
UPDATE "oidc_auth_sessions" SET "retired_hashes" = ARRAY["previous_hash"] WHERE "previous_hash" IS NOT NULL;
