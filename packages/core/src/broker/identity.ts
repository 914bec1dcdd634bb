import * as oauth from "oauth4webapi";
import type { IDToken } from "../claims.js";
import { readClaim, toIDToken } from "../claims.js";
import type { IdentityProvider } from "../provider.js";
import type { AccessTokenVerifier } from "../verify.js";

/** Who logged in, as the broker keeps it in the session and puts it in its tokens. */
export interface BrokerIdentity {
  sub: string;
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  given_name?: string;
  family_name?: string;
  name?: string;
  roles: string[];
  /**
   * The configured role claims in the IdP's own shape (e.g. `realm_access.roles`, `groups`),
   * so claim constraints on those paths work on broker tokens as on IdP tokens.
   */
  roleSources?: Record<string, unknown>;
}

const KEPT = [
  "preferred_username",
  "email",
  "email_verified",
  "given_name",
  "family_name",
  "name",
] as const;

/** Rebuilds the string / string[] values at the role paths as nested objects. */
function roleSourceClaims(token: IDToken, rolePaths: readonly string[]): Record<string, unknown> {
  const sources: Record<string, unknown> = {};
  for (const path of rolePaths) {
    if (path === "roles") continue;
    const value = readClaim(token, path);
    const isRoles =
      typeof value === "string" ||
      (Array.isArray(value) && value.every((v) => typeof v === "string"));
    if (!isRoles) continue;
    const parts = path.split(".");
    if (parts.some((p) => p === "__proto__" || p === "constructor" || p === "prototype")) continue;
    let node = sources;
    for (const part of parts.slice(0, -1)) {
      let next = Object.hasOwn(node, part) ? node[part] : undefined;
      if (!next || typeof next !== "object") {
        next = {};
        node[part] = next;
      }
      node = next as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return sources;
}

function pick(token: IDToken, rolePaths: readonly string[]): BrokerIdentity {
  const identity: BrokerIdentity = { sub: token.sub, roles: token.roles };
  const sources = roleSourceClaims(token, rolePaths);
  if (Object.keys(sources).length > 0) identity.roleSources = sources;
  for (const key of KEPT) {
    const value = token[key];
    if (key === "email_verified" ? typeof value === "boolean" : typeof value === "string") {
      (identity as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return identity;
}

/**
 * The identity behind an IdP token response: the validated ID token's claims, completed by
 * the IdP access token's claims when it is a JWT we can verify (Keycloak puts the roles
 * there), and by the IdP's userinfo when a name or email is still missing. The subject is
 * the IdP's `sub`, never a display name.
 */
export async function identityFromTokens(
  tokens: oauth.TokenEndpointResponse,
  provider: IdentityProvider,
  verifier: AccessTokenVerifier,
  rolePaths: readonly string[],
): Promise<BrokerIdentity | undefined> {
  const merged: Record<string, unknown> = {};
  const idToken = oauth.getValidatedIdTokenClaims(tokens);
  if (idToken) Object.assign(merged, toIDToken({ ...idToken }, rolePaths));
  try {
    const access = await verifier.verify(tokens.access_token);
    if (merged.sub === undefined || merged.sub === access.sub) Object.assign(merged, access);
  } catch {
    // opaque or foreign access token: the ID token and userinfo speak for the user
  }
  if (typeof merged.sub !== "string" || !merged.preferred_username || !merged.email) {
    const info = await provider.userinfo(tokens.access_token);
    if (info && (merged.sub === undefined || info.sub === merged.sub)) {
      Object.assign(merged, { ...info, ...merged });
    }
  }
  if (typeof merged.sub !== "string" || merged.sub === "") return undefined;
  const token = toIDToken(
    { iss: "", iat: 0, exp: 0, ...merged },
    merged.roles ? [...rolePaths, "roles"] : rolePaths,
  );
  return pick(token, rolePaths);
}
