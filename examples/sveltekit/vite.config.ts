import { sveltekit } from "@sveltejs/kit/vite";
import type { Plugin } from "vite";
import { defineConfig } from "vite";

const MIGRATIONS_URL = 'new URL("../migrations", import.meta.url)';

/**
 * @oidc-auth/drizzle finds its SQL migrations at `new URL("../migrations", import.meta.url)`.
 * Bundled into build/, that URL would point into build/: point it at the installed package.
 */
function drizzleMigrationsFolder(): Plugin {
  return {
    name: "oidc-auth-drizzle-migrations",
    transform(code, id) {
      if (!/[\\/](drizzle|@oidc-auth[\\/]drizzle)[\\/]src[\\/]/.test(id)) return null;
      if (!code.includes("import.meta.url")) return null;
      if (!code.includes(MIGRATIONS_URL)) {
        this.error(
          `${id} no longer finds its migrations at ${MIGRATIONS_URL}: update vite.config.ts`,
        );
      }
      return code.replace(
        MIGRATIONS_URL,
        'new URL("../migrations", import.meta.resolve("@oidc-auth/drizzle"))',
      );
    },
  };
}

export default defineConfig({
  plugins: [sveltekit(), drizzleMigrationsFolder()],
});
