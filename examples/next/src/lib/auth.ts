import { NextOIDCAuth } from "@oidc-auth/next";

// Configured from the OIDC_* variables of the running server, read on the first request.
export const auth = new NextOIDCAuth();
