import { defineConfig } from "drizzle-kit";

/**
 * SQLite (local file through libSQL, Cloudflare D1): `pnpm --filter @oidc-auth/drizzle generate`
 * writes ./migrations-sqlite, then embeds them in src/sqlite/migrations.ts (a worker has no files).
 */
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/sqlite/schema.ts",
  out: "./migrations-sqlite",
});
