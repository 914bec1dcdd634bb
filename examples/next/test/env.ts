import type { DevIdp } from "@oidc-auth/dev-idp";

/** The example's secret in every test (cookies and refresh tokens are sealed with it). */
export const SECRET = "next-example-secret-next-example-secret-0123";

/** Broker mode; in production (`next start`) the core wants an explicit audience. */
export const BROKER = { OIDC_BROKER_MODE: "true", OIDC_BROKER_AUDIENCE: "next-example-api" };

/** The example's configuration for the dev IdP, as a deployment would set it. */
export function idpEnv(idp: DevIdp, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: "oidc-auth-demo",
    OIDC_CLIENT_SECRET: "oidc-auth-demo-secret",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: SECRET,
    ...extra,
  };
}
