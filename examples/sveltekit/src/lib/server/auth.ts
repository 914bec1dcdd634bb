import { SvelteKitOIDCAuth } from "@oidc-auth/sveltekit";

// Configured from the OIDC_* variables of the running server (OIDC_CLIENT_ID,
// OIDC_DISCOVERY_URL, OIDC_BROKER_MODE, OIDC_BROKER_STORE_URL, …), read on the first request.
export const auth = new SvelteKitOIDCAuth();
