CREATE TABLE "oidc_auth_peer_jwks" (
	"issuer" text PRIMARY KEY NOT NULL,
	"jwks" jsonb NOT NULL,
	"fetched_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oidc_auth_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"refresh_hash" text NOT NULL,
	"previous_hash" text,
	"rotated_at" bigint,
	"rotation_answer" text,
	"idp_refresh_token" text,
	"claims" text NOT NULL,
	"scope" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL,
	CONSTRAINT "oidc_auth_sessions_refresh_hash_unique" UNIQUE("refresh_hash")
);
--> statement-breakpoint
CREATE TABLE "oidc_auth_signing_keys" (
	"kid" text PRIMARY KEY NOT NULL,
	"generation" integer NOT NULL,
	"alg" text NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"private_key" text NOT NULL,
	"created_at" bigint NOT NULL,
	"retired_at" bigint,
	CONSTRAINT "oidc_auth_signing_keys_generation_unique" UNIQUE("generation")
);
--> statement-breakpoint
CREATE INDEX "oidc_auth_sessions_previous_hash_idx" ON "oidc_auth_sessions" USING btree ("previous_hash");--> statement-breakpoint
CREATE INDEX "oidc_auth_sessions_expires_at_idx" ON "oidc_auth_sessions" USING btree ("expires_at");