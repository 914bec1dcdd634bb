import type { OIDCAuth, OIDCAuthOptions } from "@oidc-auth/core";
import { silentLogger } from "@oidc-auth/core";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { JWK } from "jose";

export const BENCH_SECRET = "bench-secret-bench-secret-bench-secret-0123";

/** Where the guard finds the IdP: a running dev IdP, or the same facts passed to a child. */
export interface IdpEndpoint {
  discoveryUrl: string;
  audience: string;
}

/** Guard options against the dev IdP (passthrough mode). */
export function idpOptions(idp: IdpEndpoint, extra: OIDCAuthOptions = {}): OIDCAuthOptions {
  return {
    clientId: "oidc-auth-demo",
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    logger: silentLogger,
    // The benchmarks mint thousands of tokens by exchange from one address: they measure the
    // guard, not the endpoints' rate limits.
    rateLimits: false,
    ...extra,
  };
}

export async function startIdp(): Promise<DevIdp> {
  return startDevIdp({ accessTokenTtlSec: 3600 });
}

/** `count` distinct access tokens of the dev IdP (RS256, what its token endpoint issues). */
export async function idpTokens(idp: DevIdp, count: number): Promise<string[]> {
  const users = ["alice", "bob"];
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) =>
      idp.mintAccessToken(users[(i + j) % users.length] as string, {
        scope: "openid profile email",
        expiresInSec: 3600,
      }),
    );
    tokens.push(...(await Promise.all(batch)));
  }
  return tokens;
}

/** The dev IdP's signing key as a JWK (for the baselines that import it themselves). */
export async function idpJwk(idp: DevIdp): Promise<JWK> {
  const metadata = (await (await fetch(idp.discoveryUrl)).json()) as { jwks_uri: string };
  const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: JWK[] };
  const key = jwks.keys.find((k) => k.use === undefined || k.use === "sig");
  if (!key) throw new Error("the dev IdP publishes no signing key");
  return key;
}

export async function idpJwksUri(idp: DevIdp): Promise<string> {
  const metadata = (await (await fetch(idp.discoveryUrl)).json()) as { jwks_uri: string };
  return metadata.jwks_uri;
}

/** `count` distinct broker tokens of `auth` (broker mode), by RFC 8693 token exchange. */
export async function brokerTokens(
  auth: OIDCAuth,
  subject: string,
  count: number,
): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await auth.handleRequest(
      new Request("http://bench.test/auth/v2/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          subject_token: subject,
          subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        }),
      }),
    );
    if (response.status !== 200) {
      throw new Error(`token exchange answered ${response.status}: ${await response.text()}`);
    }
    tokens.push(((await response.json()) as { access_token: string }).access_token);
  }
  return tokens;
}

/** A GET request carrying the token, built once and reused (reading headers consumes nothing). */
export function bearerRequest(token: string): Request {
  return new Request("http://bench.test/api/me", { headers: { authorization: `Bearer ${token}` } });
}
