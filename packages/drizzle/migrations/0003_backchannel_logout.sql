CREATE TABLE "oidc_auth_used_ids" (
	"id" text PRIMARY KEY NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "oidc_auth_sessions" ADD COLUMN "idp_session_id" text;--> statement-breakpoint
CREATE INDEX "oidc_auth_used_ids_expires_at_idx" ON "oidc_auth_used_ids" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oidc_auth_sessions_idp_session_id_idx" ON "oidc_auth_sessions" USING btree ("idp_session_id");