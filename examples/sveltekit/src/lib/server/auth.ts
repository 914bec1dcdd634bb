import type { OIDCAuthOptions } from "@oidc-auth/sveltekit";
import { optionsFromEnv, SvelteKitOIDCAuth, silentLogger } from "@oidc-auth/sveltekit";
import { building } from "$app/environment";
import { drizzleBrokerStore } from "./broker-store.js";

// All configuration comes from OIDC_* variables, read when the server starts (never at
// build time: `vite build` imports the routes to analyse them, with no configuration).
const options: OIDCAuthOptions = building ? { logger: silentLogger } : optionsFromEnv(process.env);
const brokerStore = drizzleBrokerStore(options);

/** The app's one oidc-auth instance. */
export const auth = new SvelteKitOIDCAuth({ ...options, brokerStore });

// adapter-node emits this on SIGINT/SIGTERM once the server has stopped taking requests.
// A store passed as `brokerStore` is the app's to close.
process.once("sveltekit:shutdown", () => {
  void auth.close().then(() => brokerStore?.close());
});
