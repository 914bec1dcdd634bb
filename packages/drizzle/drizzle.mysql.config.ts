import { defineConfig } from "drizzle-kit";

/** MySQL / MariaDB: `pnpm --filter @oidc-auth/drizzle generate` writes ./migrations-mysql. */
export default defineConfig({
  dialect: "mysql",
  schema: "./src/mysql/schema.ts",
  out: "./migrations-mysql",
});
