import type { ClaimValue, ResolvedClaimConstraints } from "./config.js";
import { claimsNotSatisfied, insufficientScope, invalidToken } from "./errors.js";

/**
 * A verified token as the app sees it: standard claims typed, extra claims kept, plus
 * `roles`, the flattened role set.
 */
export interface IDToken {
  iss: string;
  sub: string;
  aud?: string | string[];
  exp: number;
  iat: number;
  nbf?: number;
  jti?: string;
  scope?: string;
  client_id?: string;
  azp?: string;
  preferred_username?: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  /** Flattened roles from the configured role claims (Keycloak realm/client roles, groups, roles). */
  roles: string[];
  [claim: string]: unknown;
}

/** Keys never copied from a token into an object the app receives. */
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Claim paths split at their dots, once per path (paths come from the configuration). */
const pathParts = new Map<string, readonly string[]>();

/** Reads a dot path through own properties only: `__proto__` and friends lead nowhere. */
export function readClaim(claims: Record<string, unknown>, path: string): unknown {
  let parts = pathParts.get(path);
  if (parts === undefined) {
    parts = path.split(".");
    if (pathParts.size < 1000) pathParts.set(path, parts);
  }
  let current: unknown = claims;
  for (const part of parts) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    if (FORBIDDEN_KEYS.has(part) || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/**
 * The role set from the configured claim paths. A role claim that is present but is not a
 * string or an array of strings makes the token invalid (never coerced).
 */
export function flattenRoles(claims: Record<string, unknown>, paths: readonly string[]): string[] {
  const roles = new Set<string>();
  for (const path of paths) {
    const value = readClaim(claims, path);
    if (value === undefined) continue;
    if (typeof value === "string") {
      roles.add(value);
    } else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      for (const role of value) roles.add(role);
    } else {
      throw invalidToken();
    }
  }
  return [...roles];
}

const STRING_CLAIMS = [
  "iss",
  "sub",
  "jti",
  "scope",
  "client_id",
  "azp",
  "preferred_username",
  "email",
];

/** Builds the app's token from verified claims, refusing claims of the wrong type. */
export function toIDToken(payload: Record<string, unknown>, rolePaths: readonly string[]): IDToken {
  for (const name of STRING_CLAIMS) {
    if (payload[name] !== undefined && typeof payload[name] !== "string") throw invalidToken();
  }
  for (const name of ["exp", "iat", "nbf"]) {
    if (payload[name] !== undefined && typeof payload[name] !== "number") throw invalidToken();
  }
  const token: Record<string, unknown> = {};
  for (const key of Object.keys(payload)) {
    if (!FORBIDDEN_KEYS.has(key)) token[key] = payload[key];
  }
  token.roles = flattenRoles(payload, rolePaths);
  return token as IDToken;
}

/** The scopes a token carries: `scope` (space separated) or `scp` (array). */
export function tokenScopes(token: IDToken): Set<string> {
  if (typeof token.scope === "string") return new Set(token.scope.split(" ").filter(Boolean));
  const scp = token.scp;
  if (Array.isArray(scp)) return new Set(scp.filter((s): s is string => typeof s === "string"));
  return new Set();
}

/** 403 unless every required scope is in the token. */
export function requireScopes(token: IDToken, required: string | undefined): void {
  if (!required) return;
  const granted = tokenScopes(token);
  for (const scope of required.split(/\s+/).filter(Boolean)) {
    if (!granted.has(scope)) throw insufficientScope(required);
  }
}

/**
 * Whether the claim (a value or an array of values) holds one of the acceptable values.
 * `acceptable` is always a list (see `resolveClaimConstraints`), so `includes` compares
 * whole values with `===`-like equality: never substrings, never across types.
 */
function valueMatches(value: unknown, acceptable: readonly ClaimValue[]): boolean {
  const values: unknown[] = Array.isArray(value) ? value : [value];
  return values.some(
    (v) =>
      (typeof v === "string" || typeof v === "number" || typeof v === "boolean") &&
      acceptable.includes(v),
  );
}

/** 403 unless every constraint has at least one acceptable value in the token. */
export function requireClaims(token: IDToken, constraints: ResolvedClaimConstraints): void {
  for (const [path, acceptable] of Object.entries(constraints)) {
    const value = path === "roles" ? token.roles : readClaim(token, path);
    if (value === undefined || !valueMatches(value, acceptable)) throw claimsNotSatisfied();
  }
}
