import { defineConfig } from "drizzle-kit";

/** `pnpm --filter @oidc-auth/drizzle generate` writes the migrations shipped in ./migrations. */
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/schema.ts",
  out: "./migrations",
});
