CREATE TABLE "oidc_auth_rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"tokens" double precision NOT NULL,
	"updated_at" double precision NOT NULL,
	"full_at" double precision NOT NULL,
	"allowed" boolean NOT NULL
);
--> statement-breakpoint
CREATE INDEX "oidc_auth_rate_limits_full_at_idx" ON "oidc_auth_rate_limits" USING btree ("full_at");