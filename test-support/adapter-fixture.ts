import type { OIDCAuthOptions } from "@oidc-auth/core";
import { silentLogger } from "@oidc-auth/core";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";

/** What the adapters' unit tests start from: a real dev IdP and two users' access tokens. */
export interface AdapterFixture {
  idp: DevIdp;
  /** alice: realm roles user+admin, groups /staff. */
  alice: string;
  /** bob: realm role user only. */
  bob: string;
  /** Options of an adapter instance wired to the dev IdP, `extra` winning. */
  options(extra?: OIDCAuthOptions): OIDCAuthOptions;
}

/** Starts the dev IdP and mints the users' tokens; stop it with `fixture.idp.stop()`. */
export async function startAdapterFixture(redirectUri: string): Promise<AdapterFixture> {
  const idp = await startDevIdp();
  const scope = "openid profile email";
  return {
    idp,
    alice: await idp.mintAccessToken("alice", { scope }),
    bob: await idp.mintAccessToken("bob", { scope }),
    options: (extra = {}) => ({
      clientId: "oidc-auth-demo",
      clientSecret: "oidc-auth-demo-secret",
      discoveryUrl: idp.discoveryUrl,
      audience: idp.audience,
      secret: "adapter-test-secret-adapter-test-secret",
      redirectUris: [redirectUri],
      logger: silentLogger,
      ...extra,
    }),
  };
}
