import { SvelteKitOIDCAuth } from "@oidc-auth/sveltekit";

// Configured from the OIDC_* variables of the running server, read on the first request.
export const auth = new SvelteKitOIDCAuth();
