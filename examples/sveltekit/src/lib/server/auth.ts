import type { OIDCAuthOptions } from "@oidc-auth/sveltekit";
import { optionsFromEnv, SvelteKitOIDCAuth, silentLogger } from "@oidc-auth/sveltekit";
import { building } from "$app/environment";

// All configuration comes from OIDC_* variables, read when the server starts (never at
// build time: `vite build` imports the routes to analyse them, with no configuration).
// The build's instance is guard-only (no discoveryUrl, so no endpoint) and never serves.
const options: OIDCAuthOptions = building
  ? { issuer: "https://build.invalid", jwksUri: "https://build.invalid/jwks", logger: silentLogger }
  : optionsFromEnv(process.env);

// Broker mode's Drizzle store (embedded PGlite by default, or pglite:// / postgres://). The
// core's own import of @oidc-auth/drizzle is by a computed name, which a built app cannot
// serve; a literal import here lets Vite bundle it, in a chunk loaded only when used.
if (options.brokerMode && !options.brokerStore && options.brokerStoreUrl !== "memory://") {
  const url = options.brokerStoreUrl;
  const appName = options.appName;
  options.brokerStore = () =>
    import("@oidc-auth/drizzle").then(({ createBrokerStore }) =>
      createBrokerStore(url, { appName }),
    );
}

/** The app's one oidc-auth instance. */
export const auth = new SvelteKitOIDCAuth(options);

// adapter-node emits this on SIGINT/SIGTERM once the server has stopped taking requests;
// closing the instance closes the store it opened.
process.once("sveltekit:shutdown", () => {
  void auth.close();
});
