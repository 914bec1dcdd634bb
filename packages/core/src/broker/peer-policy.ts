/**
 * What this instance believes of a trusted peer's tokens. A peer vouches for who the user
 * is at its end (`iss` says which peer, `sub` whom); whether it may also hand out roles or
 * scopes here is this instance's decision, per peer, and by default it may not: a peer
 * that could put `roles: ["admin"]` into its tokens would otherwise make anyone an admin
 * here.
 */

/** A trusted peer instance and what its tokens may carry (an entry of `trustedIssuers`). */
export interface TrustedIssuer {
  /** The peer's `iss`: its public URL (py-oidc-auth: its `proxy`, else its audience). */
  issuer: string;
  /**
   * The `typ` headers accepted on this peer's tokens (compared case-insensitively, with or
   * without `application/`). Default `["at+jwt"]` (oidc-auth peers). py-oidc-auth mints
   * with PyJWT's default `"JWT"`: use `["JWT"]` for it.
   */
  tokenTypes?: string[];
  /**
   * What the peer may assert here besides the user's identity (`sub`, names, email):
   * `"roles"` (its `roles` and the configured role claims), `"scope"` (its `scope`/`scp`).
   * Everything else it puts in its tokens is dropped. Default `[]`: identity only.
   */
  mayAssert?: ("roles" | "scope")[];
}

/** A peer's policy after defaults. */
export interface PeerPolicy {
  issuer: string;
  tokenTypes: ReadonlySet<string>;
  roles: boolean;
  scope: boolean;
}

/** `typ` compared as RFC 7515 §4.1.9 says: case-insensitive, `application/` optional. */
export function normaliseType(type: string): string {
  const t = type.toLowerCase();
  return t.startsWith("application/") ? t.slice("application/".length) : t;
}

/** The claims any trusted peer may assert: who the user is, and the token's own frame. */
const IDENTITY_CLAIMS = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "preferred_username",
  "email",
  "email_verified",
  "given_name",
  "family_name",
  "name",
]);

/**
 * The payload of a verified peer token as this instance takes it: claims the peer sent as
 * `null` are dropped (py-oidc-auth sends `email: null` for users without one), and of the
 * rest only identity claims are kept, plus roles (`roles` and the top-level claims of the
 * configured role paths) and `scope`/`scp` where the policy lets the peer assert them.
 */
export function applyPeerPolicy(
  payload: Record<string, unknown>,
  policy: PeerPolicy,
  rolePaths: readonly string[],
): Record<string, unknown> {
  const roleClaims = new Set(["roles", ...rolePaths.map((p) => p.split(".")[0] as string)]);
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (value === null) continue;
    const allowed =
      IDENTITY_CLAIMS.has(name) ||
      (policy.roles && roleClaims.has(name)) ||
      (policy.scope && (name === "scope" || name === "scp"));
    if (allowed) kept[name] = value;
  }
  return kept;
}
