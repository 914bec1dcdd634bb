import type { BrokerAlgorithm } from "./broker/keys.js";
import type { PeerPolicy, TrustedIssuer } from "./broker/peer-policy.js";
import { normaliseType } from "./broker/peer-policy.js";
import type { BrokerStore } from "./broker/store.js";
import type { Logger } from "./log.js";
import { consoleLogger, withAppName } from "./log.js";
import type { RateLimitOptions, ResolvedRateLimits } from "./rate-limits.js";
import { RateLimitOptionError, resolveRateLimits } from "./rate-limits.js";
import { isLoopbackHost, isSecureEnough } from "./transport.js";

/** The endpoints oidc-auth serves, by name. */
export type EndpointName =
  | "login"
  | "callback"
  | "token"
  | "device"
  | "logout"
  | "userinfo"
  | "jwks"
  | "backchannelLogout";

/** A value a claim constraint accepts. Values match exactly (same type, same value). */
export type ClaimValue = string | number | boolean;

/**
 * Claim constraints: `{ "<claim path>": [acceptable values] }`. Dot paths reach nested
 * claims; the claim (a value or an array of values) must contain at least one acceptable
 * value, matched exactly; every key must match. A single string stands for a list of one
 * (`{ roles: "admin" }` is `{ roles: ["admin"] }`, never a substring match). Anything else
 * (objects, `null`, empty lists, non-finite numbers) is a {@link ConfigError}.
 * The key `roles` matches the flattened role set (see {@link OIDCAuthOptions.roleClaims}).
 */
export type ClaimConstraints = Record<string, ClaimValue | readonly ClaimValue[]>;

/** Claim constraints after validation: every value a non-empty list. */
export type ResolvedClaimConstraints = Readonly<Record<string, readonly ClaimValue[]>>;

/**
 * Options of {@link OIDCAuth}. The names are py-oidc-auth's in camelCase, with the same
 * defaults; every one can also come from the environment (see `optionsFromEnv`).
 */
export interface OIDCAuthOptions {
  /** Client id at the identity provider. */
  clientId?: string;
  /** Client secret; none makes this a public client. */
  clientSecret?: string;
  /**
   * The IdP's `.well-known/openid-configuration` URL. Required: without it construction
   * fails, unless `issuer` and `jwksUri` are both given, which serves the guard only (the
   * endpoints that talk to the IdP are then off).
   */
  discoveryUrl?: string;
  /** Default scopes, space separated; `openid` is always added. Default `"profile email"`. */
  scopes?: string;
  /**
   * Required `aud` of IdP access tokens (passthrough mode). Passthrough mode refuses to
   * start without it when the IdP is not on a loopback host or in production (see
   * {@link acceptAnyAudience} for IdPs that cannot set one).
   */
  audience?: string;
  /**
   * Passthrough mode without {@link audience}: accept IdP access tokens issued for any API
   * of the IdP. Only for IdPs that cannot put an audience in their tokens; a warning is
   * logged at startup. Default false.
   */
  acceptAnyAudience?: boolean;
  /**
   * Clients whose IdP access tokens the guard accepts: the token's `azp` (or, without one,
   * its RFC 9068 `client_id`) must be one of these. Default: any client.
   */
  authorizedParties?: string[];
  /**
   * Names the app: every log line carries it as the field `app` (see {@link logger}), and the
   * embedded store's data folder is `.data/<appName>`. Default `"oidc-auth"`.
   */
  appName?: string;
  /** Public base URL of the app, e.g. `https://app.example.org`. */
  proxy?: string;
  /** Claim constraints every guard applies. */
  claims?: ClaimConstraints;
  /** Ask for `offline_access` (refresh tokens) by default. Default true. */
  offlineAccess?: boolean;
  /** Timeout of every call to the IdP, in seconds. Default 10. */
  timeoutSec?: number;
  /**
   * Override of the IdP's JWKS URI (default: from discovery). A `jwks_uri` from discovery
   * must be on the issuer's origin (or one of {@link trustedJwksOrigins}); this one is
   * trusted as configured.
   */
  jwksUri?: string;
  /**
   * Origins besides the issuer's on which the discovered `jwks_uri` may be, e.g.
   * `["https://www.googleapis.com"]` for Google. Default none: a discovery document naming
   * keys on another origin is refused (502).
   */
  trustedJwksOrigins?: string[];
  /**
   * Override of the IdP's issuer, as py-oidc-auth's `issuer`: the `iss` that access tokens,
   * ID tokens and RFC 9207's callback `iss` must carry (default: the discovery document's).
   * For an IdP whose discovery is fetched from an internal `discoveryUrl` while browsers and
   * tokens use its public URL: the document may then name either this issuer or the one
   * `discoveryUrl` stands for (anything else is refused); see SECURITY.md.
   *
   * @example
   * ```ts
   * { discoveryUrl: "http://keycloak:8080/realms/demo/.well-known/openid-configuration",
   *   issuer: "https://kc.example.org/realms/demo" }
   * ```
   */
  issuer?: string;

  /** Mint own JWTs instead of passing IdP tokens through. Default false. */
  brokerMode?: boolean;
  /**
   * Broker store: `memory://`, `postgres://…`/`postgresql://…`, `pglite://DIR`. Default: the
   * embedded PGlite store of `@oidc-auth/drizzle` (Node only; edge apps use `memory://` or
   * pass `brokerStore`).
   */
  brokerStoreUrl?: string;
  /**
   * A store object, or a function that opens one on first use, instead of a URL (wins over
   * `brokerStoreUrl`). The function form lets bundled apps import `@oidc-auth/drizzle`
   * themselves: `brokerStore: () => import("@oidc-auth/drizzle").then((m) => m.createBrokerStore(url))`.
   */
  brokerStore?: BrokerStore | (() => Promise<BrokerStore>);
  /** `aud` of broker tokens. Default `"oidc-auth"`. */
  brokerAudience?: string;
  /**
   * Peer instances whose broker tokens are accepted: their issuer URLs, or
   * {@link TrustedIssuer} entries with a policy (accepted `typ` headers; whether the peer
   * may assert roles or scopes here). A peer given by URL alone gets the safe default:
   * `typ: at+jwt` only, identity claims only (no roles, no scopes). `token.iss` tells the
   * app which peer vouched for a user.
   */
  trustedIssuers?: (string | TrustedIssuer)[];
  /** Where a peer publishes its keys. Default `"/auth/v2/.well-known/jwks.json"`. */
  brokerJwksPath?: string;
  /** Lifetime of broker access tokens (code and device flow alike), seconds. Default 3600. */
  brokerTokenTtlSec?: number;
  /** The former name of {@link sessionMaxAgeSec} (used when that is not set). */
  brokerSessionTtlSec?: number;
  /**
   * Broker mode: the absolute lifetime of a session (one login at the IdP and the refresh
   * credentials issued for it), seconds from the login, whatever the refreshes. Default
   * 30 days (`brokerSessionTtlSec` when set).
   */
  sessionMaxAgeSec?: number;
  /**
   * Broker mode: a session not refreshed for this many seconds ends. Default 7 days. A
   * session without an IdP refresh token (IdPs that give none without `offline_access`)
   * also ends when the IdP's access token of the login expires, and each of its refreshes
   * first asks the IdP's userinfo whether the user is still known.
   */
  sessionIdleSec?: number;
  /**
   * Broker mode: how often, in seconds, an instance rereads the signing keys from the store,
   * so that a rotation on one instance reaches every instance within this bound (new key
   * signing and accepted everywhere; the JWKS is cacheable for this long). A token with a
   * kid this instance does not know yet rereads at once (at most once a second). Default 10.
   */
  keyReloadSec?: number;
  /**
   * Broker mode: how many native logins (clients that send their own `code_challenge`) one
   * client IP may have waiting for their code exchange at once; more are refused with 429
   * until one completes or expires. Default 20.
   */
  nativeLoginsPerClient?: number;
  /** Signing algorithm of broker tokens. Default RS256 (what Python peers verify). */
  brokerAlgorithm?: BrokerAlgorithm;
  /** Rotate the signing key when it is older than this many seconds. Default: never. */
  keyRotationIntervalSec?: number;
  /**
   * Seconds after a rotation during which the replaced refresh credential still gets the
   * same answer: concurrent refreshes (several tabs, retries after a lost response) share
   * one rotation instead of revoking the session. Any later use of the old credential
   * revokes the session. Default 2, at most 60; 0 shares only refreshes that overlap.
   */
  refreshReuseGraceSec?: number;
  /**
   * Broker mode: serve RFC 8693 token exchange at the token endpoint (an IdP access token
   * for this app, or a trusted peer's broker token, becomes a local broker token). The
   * broker has no registry of clients to authenticate, so whoever holds an acceptable
   * subject token may exchange it: turn this on only where that is wanted. Default false
   * (the grant is then `unsupported_grant_type`).
   */
  tokenExchange?: boolean;

  /**
   * Secret(s) for sealing login transactions (and, in broker mode, encryption at rest), at
   * least 32 characters each. The first seals; all are tried when opening (rotation).
   * Without one, a random per-process secret is used: logins then do not survive a
   * restart and do not work across several instances.
   */
  secret?: string | string[];
  /** Exact `redirect_uri` values `login` accepts. */
  redirectUris?: string[];
  /**
   * Also accept loopback redirect URIs on any port (`http://127.0.0.1:<port>/…`,
   * `http://localhost:<port>/…`, `http://[::1]:<port>/…`), as RFC 8252 §7.3 allows for
   * native clients such as py-oidc-auth-client. Default false.
   */
  allowLoopbackRedirects?: boolean;
  /**
   * Exact `post_logout_redirect_uri` values `logout` accepts, besides targets on the origin
   * of `proxy` under its base path (relative paths, or absolute URIs such as
   * `https://app.example.org/`), and loopback URIs when `allowLoopbackRedirects` is on.
   */
  postLogoutRedirectUris?: string[];
  /**
   * Serve py-oidc-auth-client's browser login unchanged: the last `|`-separated segment of
   * `state` is then a sealed blob (verifier, redirect_uri, nonce, expiry) that the token
   * endpoint accepts as `code_verifier`. Default false: no verifier ever travels in a URL.
   */
  pyClientCompat?: boolean;
  /** Clock tolerance for `exp`/`iat`/`nbf`, in seconds. Default 30, at most 300. */
  clockToleranceSec?: number;
  /** JWS algorithms accepted on IdP tokens. Asymmetric only. Default RS/PS/ES/EdDSA. */
  algorithms?: string[];
  /** Accepted `typ` headers of access tokens; a token without `typ` is also accepted. */
  accessTokenTypes?: string[];
  /** Tokens longer than this many bytes are refused before decoding. Default 8192. */
  maxTokenBytes?: number;
  /**
   * Claim paths whose values form the flattened `roles` set. `{clientId}` is replaced by
   * the client id. Default: realm roles, this client's roles, groups and `roles`.
   */
  roleClaims?: string[];
  /** Path of each endpoint (relative to the prefix); `null` disables it. */
  routes?: Partial<Record<EndpointName, string | null>>;
  /**
   * Browser sessions (backend-for-frontend): `GET login` without a native client's
   * `redirect_uri` ends in an `HttpOnly` session cookie and a redirect back to the app, and
   * guards accept that cookie besides bearer tokens (unsafe methods only from the app's own
   * origin). Tokens never reach page JavaScript. Default true; false serves bearer tokens only.
   */
  browserSessions?: boolean;
  /**
   * Name of the session cookie. Default `"oidc_auth_session"`; over https it carries the
   * `__Host-` prefix. Letters, digits, `_` and `-` only.
   */
  sessionCookieName?: string;
  /**
   * Where page guards send a browser that has no session: the path (or absolute URL) at
   * which `GET login` is served, including the prefix the endpoints are mounted under.
   * Default the `login` route without a prefix (`"/auth/v2/login"`); the Next.js adapter
   * defaults to `"/api/auth/v2/login"`, the SvelteKit adapter to its `handle` prefix.
   */
  loginPath?: string;
  /** How the client authenticates at the token endpoint. Default `client_secret_basic`. */
  clientAuthMethod?: "client_secret_basic" | "client_secret_post";
  /**
   * Allow plain-http IdP and peer URLs that are not loopback (e.g. a Keycloak container on
   * a private network). Loopback http URLs are always allowed. Without it, a plain-http
   * `discoveryUrl`, `issuer`, `jwksUri` or trusted issuer on another host refuses to start,
   * and a discovered http `jwks_uri` is refused. Default false.
   */
  allowInsecureRequests?: boolean;
  /** Lifetime of a login transaction, in seconds. Default 600, at most 600. */
  transactionTtlSec?: number;
  /**
   * Minimum time between two JWKS fetches for an unknown `kid`, and the back-off after a
   * failed discovery or JWKS fetch (no new attempt meanwhile: guards answer from cached
   * keys or with 503 at once), in seconds. Default 30.
   */
  jwksCooldownSec?: number;
  /** Age after which cached JWKS are refreshed, in seconds. Default 600. */
  jwksMaxAgeSec?: number;
  /**
   * Verified tokens the guard keeps (an LRU keyed by the token's SHA-256, each entry until
   * the token's `exp` and at most `jwksMaxAgeSec`); 0 disables it. Default 10000.
   */
  tokenCacheSize?: number;
  /**
   * Production checks: refuse configurations that only make sense in development (broker
   * mode without a stable issuer, audience or secret). Default: `NODE_ENV === "production"`.
   */
  production?: boolean;
  /**
   * Rate limits (token buckets; a refused request gets 429 `slow_down` with `Retry-After`)
   * of `login`, `device`, `token` (code, refresh and device-code grants) and `exchange`
   * (the token-exchange grant), per client IP and per credential. On by default with
   * generous numbers: login 100 at once then 1/s per IP; device 60, 1/s; token 80, 1/s per
   * IP and 30, 1/s per credential; exchange 300, 5/s per IP and 30, 1/s per credential.
   * Given numbers replace the defaults field by field; `false` switches off everything, an
   * endpoint (`{ login: false }`) or one bucket (`{ token: { ip: false } }`). In broker mode
   * the buckets live in the broker store, shared by every instance on it.
   *
   * @example
   * ```ts
   * rateLimits: { login: { ip: { capacity: 20, refillPerSec: 0.5 } }, exchange: false }
   * ```
   */
  rateLimits?: RateLimitOptions | false;
  /**
   * Request header holding the client's IP address for the per-IP limits, set by the
   * reverse proxy in front of the app: `x-forwarded-for` (its last entry is used: the
   * address the proxy saw), `x-real-ip`, `cf-connecting-ip`. Only with such a proxy, which
   * must overwrite what clients send: otherwise a client picks its own address. Default
   * none: the address the adapter takes from the connection (Hono on Node, SvelteKit);
   * without one (Next.js) only the per-credential limits apply.
   */
  clientIpHeader?: string;
  /** The `fetch` used for every call to the IdP (fault injection, proxies). */
  fetch?: typeof fetch;
  /**
   * Where log lines go. Default: warnings and errors on the console. Every line's fields
   * carry `app` ({@link appName}).
   */
  logger?: Logger;
}

/** Options after defaults, validated. */
export interface ResolvedConfig {
  clientId: string;
  clientSecret: string | undefined;
  discoveryUrl: string;
  scopes: string[];
  audience: string | undefined;
  acceptAnyAudience: boolean;
  authorizedParties: ReadonlySet<string> | undefined;
  appName: string;
  proxy: string;
  claims: ResolvedClaimConstraints;
  offlineAccess: boolean;
  timeoutMs: number;
  jwksUri: string | undefined;
  trustedJwksOrigins: ReadonlySet<string>;
  issuer: string | undefined;
  secrets: string[] | undefined;
  brokerMode: boolean;
  brokerStoreUrl: string | undefined;
  brokerStore: BrokerStore | (() => Promise<BrokerStore>) | undefined;
  brokerAudience: string;
  /** `iss` of broker tokens: proxy, else brokerAudience (as in py-oidc-auth). */
  brokerIssuer: string;
  /** The issuers of `trustedIssuers` (without a trailing slash). */
  trustedIssuers: string[];
  /** The policy of each trusted peer, by issuer. */
  peerPolicies: ReadonlyMap<string, PeerPolicy>;
  brokerJwksPath: string;
  brokerTokenTtlSec: number;
  /** The absolute session lifetime (`sessionMaxAgeSec`, else `brokerSessionTtlSec`). */
  brokerSessionTtlSec: number;
  sessionMaxAgeSec: number;
  sessionIdleSec: number;
  keyReloadSec: number;
  nativeLoginsPerClient: number;
  brokerAlgorithm: BrokerAlgorithm;
  keyRotationIntervalSec: number | undefined;
  refreshReuseGraceSec: number;
  tokenExchange: boolean;
  redirectUris: ReadonlySet<string>;
  allowLoopbackRedirects: boolean;
  postLogoutRedirectUris: ReadonlySet<string>;
  pyClientCompat: boolean;
  clockToleranceSec: number;
  algorithms: string[];
  accessTokenTypes: string[];
  maxTokenBytes: number;
  roleClaims: string[];
  routes: Record<EndpointName, string | null>;
  browserSessions: boolean;
  /** Without the `__Host-` prefix (added over https). */
  sessionCookieName: string;
  loginPath: string;
  clientAuthMethod: "client_secret_basic" | "client_secret_post";
  allowInsecureRequests: boolean;
  transactionTtlSec: number;
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  tokenCacheSize: number;
  rateLimits: ResolvedRateLimits;
  /** Lower case; undefined: the adapter's socket address only. */
  clientIpHeader: string | undefined;
  fetch: typeof fetch | undefined;
  logger: Logger;
}

export const DEFAULT_ROUTES: Record<EndpointName, string> = {
  login: "/auth/v2/login",
  callback: "/auth/v2/callback",
  token: "/auth/v2/token",
  device: "/auth/v2/device",
  logout: "/auth/v2/logout",
  userinfo: "/auth/v2/userinfo",
  jwks: "/auth/v2/.well-known/jwks.json",
  backchannelLogout: "/auth/v2/backchannel-logout",
};

/** The endpoints that talk to the IdP: without `discoveryUrl` they are not served. */
const IDP_ENDPOINTS: readonly EndpointName[] = [
  "login",
  "callback",
  "token",
  "device",
  "logout",
  "userinfo",
  "backchannelLogout",
];

const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** Thrown at construction for options that cannot work or would be unsafe. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

function requireRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number between ${min} and ${max}.`);
  }
  return value;
}

function absoluteUrl(name: string, value: string): string {
  try {
    return new URL(value).href;
  } catch {
    throw new ConfigError(`${name} must be an absolute URL.`);
  }
}

/** The longest claim path a constraint may name, and its most segments. */
const MAX_CLAIM_PATH_LENGTH = 256;

/**
 * Validates claim constraints (from options, `OIDC_CLAIMS` or a route) into lists of
 * exact values. `source` names where they came from in the error message.
 */
export function resolveClaimConstraints(
  constraints: unknown,
  source: string,
): ResolvedClaimConstraints {
  if (constraints === undefined) return {};
  if (constraints === null || typeof constraints !== "object" || Array.isArray(constraints)) {
    throw new ConfigError(
      `${source} must be an object of claim paths to acceptable values, e.g. {"roles": ["admin"]}.`,
    );
  }
  const resolved: Record<string, readonly ClaimValue[]> = Object.create(null);
  for (const [path, value] of Object.entries(constraints)) {
    if (
      path === "" ||
      path.length > MAX_CLAIM_PATH_LENGTH ||
      path.split(".").some((part) => part === "")
    ) {
      throw new ConfigError(`${source}: "${path.slice(0, 64)}" is not a claim path.`);
    }
    const values = typeof value === "string" ? [value] : value;
    if (!Array.isArray(values) || values.length === 0 || !values.every(isClaimValue)) {
      throw new ConfigError(
        `${source}.${path} must be a string or a non-empty array of strings, numbers or booleans (values match exactly).`,
      );
    }
    resolved[path] = Object.freeze([...values]);
  }
  return Object.freeze(resolved);
}

function isClaimValue(value: unknown): value is ClaimValue {
  return (
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

function resolveAuthorizedParties(parties: unknown): ReadonlySet<string> | undefined {
  if (parties === undefined) return undefined;
  if (
    !Array.isArray(parties) ||
    parties.length === 0 ||
    !parties.every((p) => typeof p === "string" && p !== "")
  ) {
    throw new ConfigError("authorizedParties must be a non-empty list of client ids.");
  }
  return new Set(parties);
}

/** NODE_ENV, where the runtime has one (edge runtimes may not). */
function runningInProduction(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  return env?.NODE_ENV === "production";
}

/** Applies the defaults and refuses options that cannot work or would be unsafe. */
export function resolveConfig(options: OIDCAuthOptions): ResolvedConfig {
  const algorithms = options.algorithms ?? ASYMMETRIC_ALGORITHMS;
  for (const alg of algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.includes(alg)) {
      throw new ConfigError(`algorithm ${alg} is not allowed: only asymmetric JWS algorithms.`);
    }
  }
  const secrets =
    options.secret === undefined
      ? undefined
      : Array.isArray(options.secret)
        ? options.secret
        : [options.secret];
  if (secrets) {
    if (secrets.length === 0) throw new ConfigError("secret must not be an empty list.");
    for (const s of secrets) {
      if (typeof s !== "string" || s.length < 32) {
        throw new ConfigError("each secret must be a string of at least 32 characters.");
      }
    }
  }
  const appName = options.appName || "oidc-auth";
  const routes = { ...DEFAULT_ROUTES, ...options.routes } as Record<EndpointName, string | null>;
  if (!options.discoveryUrl) {
    // Without discovery only the guard can work: from a configured issuer and JWKS.
    if (!options.issuer || !options.jwksUri) {
      throw new ConfigError(
        "discoveryUrl is required (or, for a guard without endpoints, issuer and jwksUri).",
      );
    }
    for (const name of IDP_ENDPOINTS) {
      if (options.routes?.[name]) {
        throw new ConfigError(`route ${name} needs discoveryUrl (it talks to the IdP).`);
      }
      routes[name] = null;
    }
  }
  for (const [name, path] of Object.entries(routes)) {
    if (path !== null && !path.startsWith("/")) {
      throw new ConfigError(`route ${name} must start with "/" (or be null to disable it).`);
    }
  }
  const scopes = (options.scopes ?? "profile email").split(/\s+/).filter(Boolean);
  const proxy = options.proxy ? absoluteUrl("proxy", options.proxy).replace(/\/+$/, "") : "";
  const brokerAudience = options.brokerAudience || "oidc-auth";
  const brokerIssuer = proxy || brokerAudience;
  const peerPolicies = resolvePeerPolicies(options.trustedIssuers ?? []);
  const trustedIssuers = [...peerPolicies.keys()];
  if (trustedIssuers.includes(brokerIssuer)) {
    throw new ConfigError("trustedIssuers must not contain this instance's own issuer.");
  }
  const brokerAlgorithm = options.brokerAlgorithm ?? "RS256";
  if (!["RS256", "PS256", "ES256", "EdDSA"].includes(brokerAlgorithm)) {
    throw new ConfigError("brokerAlgorithm must be RS256, PS256, ES256 or EdDSA.");
  }
  const sessionMaxAgeSec = requireRange(
    options.sessionMaxAgeSec === undefined && options.brokerSessionTtlSec !== undefined
      ? "brokerSessionTtlSec"
      : "sessionMaxAgeSec",
    options.sessionMaxAgeSec ?? options.brokerSessionTtlSec ?? 30 * 86400,
    60,
    365 * 86400,
  );
  const brokerJwksPath = options.brokerJwksPath ?? "/auth/v2/.well-known/jwks.json";
  if (!brokerJwksPath.startsWith("/")) throw new ConfigError('brokerJwksPath must start with "/".');
  let rateLimits: ResolvedRateLimits;
  try {
    rateLimits = resolveRateLimits(options.rateLimits);
  } catch (err) {
    if (err instanceof RateLimitOptionError) throw new ConfigError(err.message);
    throw err;
  }
  const clientIpHeader = options.clientIpHeader?.trim().toLowerCase() || undefined;
  if (clientIpHeader !== undefined && !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(clientIpHeader)) {
    throw new ConfigError("clientIpHeader must be a header name.");
  }
  if (options.tokenExchange && !options.brokerMode) {
    throw new ConfigError("tokenExchange needs brokerMode (exchanged tokens are broker tokens).");
  }
  const production = options.production ?? runningInProduction();
  const allowInsecureRequests = options.allowInsecureRequests ?? false;
  const idpUrls = (
    [
      ["discoveryUrl", options.discoveryUrl],
      ["issuer", options.issuer],
      ["jwksUri", options.jwksUri],
    ] as const
  ).flatMap(([name, value]) => (value ? [[name, new URL(absoluteUrl(name, value))] as const] : []));
  for (const [name, url] of [
    ...idpUrls,
    ...trustedIssuers.map(
      (i) => ["trustedIssuers", new URL(absoluteUrl("trustedIssuers", i))] as const,
    ),
  ]) {
    if (!isSecureEnough(url, allowInsecureRequests)) {
      throw new ConfigError(
        `${name} must use https (plain http only on a loopback host, or with allowInsecureRequests).`,
      );
    }
  }
  // Without an audience, any access token the IdP issued for any of its APIs would pass.
  // Only development against an IdP on this machine may go without one.
  const idpIsLocal = idpUrls.length > 0 && idpUrls.every(([, url]) => isLoopbackHost(url.hostname));
  if (
    !options.brokerMode &&
    !options.audience &&
    !options.acceptAnyAudience &&
    idpUrls.length > 0 &&
    (production || !idpIsLocal)
  ) {
    throw new ConfigError(
      "passthrough mode needs audience (OIDC_AUDIENCE): the `aud` your API's access tokens carry. For an IdP that cannot set one, set acceptAnyAudience (OIDC_ACCEPT_ANY_AUDIENCE=true).",
    );
  }
  if (options.brokerMode && !routes.token) {
    // As py-oidc-auth: without the token route no broker session could ever be refreshed.
    throw new ConfigError("broker mode needs the token route (routes.token must not be null).");
  }
  if (production && options.brokerMode) {
    if (!proxy) {
      throw new ConfigError(
        "broker mode in production needs proxy (the public URL, which becomes the stable `iss` of broker tokens).",
      );
    }
    if (!options.brokerAudience) {
      throw new ConfigError("broker mode in production needs an explicit brokerAudience.");
    }
    if (!secrets) {
      throw new ConfigError(
        "broker mode in production needs secret (OIDC_SECRET): refresh tokens and keys are encrypted at rest with it.",
      );
    }
  }
  return {
    clientId: options.clientId ?? "",
    clientSecret: options.clientSecret || undefined,
    discoveryUrl: options.discoveryUrl ? absoluteUrl("discoveryUrl", options.discoveryUrl) : "",
    scopes: scopes.includes("openid") ? scopes : ["openid", ...scopes],
    audience: options.audience || undefined,
    acceptAnyAudience: options.acceptAnyAudience ?? false,
    authorizedParties: resolveAuthorizedParties(options.authorizedParties),
    appName,
    proxy,
    claims: resolveClaimConstraints(options.claims, "claims"),
    offlineAccess: options.offlineAccess ?? true,
    timeoutMs: requireRange("timeoutSec", options.timeoutSec ?? 10, 0.1, 300) * 1000,
    jwksUri: options.jwksUri ? absoluteUrl("jwksUri", options.jwksUri) : undefined,
    trustedJwksOrigins: new Set(
      (options.trustedJwksOrigins ?? []).map(
        (o) => new URL(absoluteUrl("trustedJwksOrigins", o)).origin,
      ),
    ),
    issuer: options.issuer || undefined,
    secrets,
    brokerMode: options.brokerMode ?? false,
    brokerStoreUrl: options.brokerStoreUrl || undefined,
    brokerStore: options.brokerStore,
    brokerAudience,
    brokerIssuer,
    trustedIssuers,
    peerPolicies,
    brokerJwksPath,
    brokerTokenTtlSec: requireRange(
      "brokerTokenTtlSec",
      options.brokerTokenTtlSec ?? 3600,
      30,
      86400,
    ),
    brokerSessionTtlSec: sessionMaxAgeSec,
    sessionMaxAgeSec,
    sessionIdleSec: requireRange(
      "sessionIdleSec",
      options.sessionIdleSec ?? 7 * 86400,
      60,
      365 * 86400,
    ),
    keyReloadSec: requireRange("keyReloadSec", options.keyReloadSec ?? 10, 1, 300),
    nativeLoginsPerClient: Math.floor(
      requireRange("nativeLoginsPerClient", options.nativeLoginsPerClient ?? 20, 1, 10_000),
    ),
    brokerAlgorithm,
    keyRotationIntervalSec:
      options.keyRotationIntervalSec === undefined
        ? undefined
        : requireRange(
            "keyRotationIntervalSec",
            options.keyRotationIntervalSec,
            60,
            10 * 365 * 86400,
          ),
    refreshReuseGraceSec: requireRange(
      "refreshReuseGraceSec",
      options.refreshReuseGraceSec ?? 2,
      0,
      60,
    ),
    tokenExchange: options.tokenExchange ?? false,
    // Kept as written: a caller's URI must equal one of them character for character.
    redirectUris: new Set(
      (options.redirectUris ?? []).map((u) => {
        absoluteUrl("redirectUris", u);
        return u;
      }),
    ),
    allowLoopbackRedirects: options.allowLoopbackRedirects ?? false,
    postLogoutRedirectUris: new Set(
      (options.postLogoutRedirectUris ?? []).map((u) => {
        absoluteUrl("postLogoutRedirectUris", u);
        return u;
      }),
    ),
    pyClientCompat: options.pyClientCompat ?? false,
    clockToleranceSec: requireRange("clockToleranceSec", options.clockToleranceSec ?? 30, 0, 300),
    algorithms,
    accessTokenTypes: (options.accessTokenTypes ?? ["at+jwt", "application/at+jwt", "JWT"]).map(
      (t) => t.toLowerCase(),
    ),
    maxTokenBytes: requireRange("maxTokenBytes", options.maxTokenBytes ?? 8192, 256, 65536),
    roleClaims: options.roleClaims ?? [
      "realm_access.roles",
      "resource_access.{clientId}.roles",
      "groups",
      "roles",
    ],
    routes,
    browserSessions: options.browserSessions ?? true,
    sessionCookieName: cookieName(options.sessionCookieName ?? "oidc_auth_session"),
    loginPath: loginPath(options.loginPath ?? routes.login ?? DEFAULT_ROUTES.login),
    clientAuthMethod: options.clientAuthMethod ?? "client_secret_basic",
    allowInsecureRequests,
    transactionTtlSec: requireRange("transactionTtlSec", options.transactionTtlSec ?? 600, 10, 600),
    jwksCooldownMs: requireRange("jwksCooldownSec", options.jwksCooldownSec ?? 30, 0, 3600) * 1000,
    jwksMaxAgeMs: requireRange("jwksMaxAgeSec", options.jwksMaxAgeSec ?? 600, 1, 86400) * 1000,
    tokenCacheSize: Math.floor(
      requireRange("tokenCacheSize", options.tokenCacheSize ?? 10_000, 0, 1_000_000),
    ),
    rateLimits,
    clientIpHeader,
    fetch: options.fetch,
    logger: withAppName(options.logger ?? consoleLogger, appName),
  };
}

function cookieName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || name.startsWith("__")) {
    throw new ConfigError(
      "sessionCookieName: 1-64 letters, digits, _ or - (not starting with __).",
    );
  }
  return name;
}

function loginPath(path: string): string {
  if (path.startsWith("/") && !path.startsWith("//")) return path;
  return absoluteUrl("loginPath", path);
}

/** `trustedIssuers` entries with their defaults, by issuer (no trailing slash). */
function resolvePeerPolicies(
  entries: readonly (string | TrustedIssuer)[],
): Map<string, PeerPolicy> {
  if (!Array.isArray(entries)) throw new ConfigError("trustedIssuers must be a list.");
  const policies = new Map<string, PeerPolicy>();
  for (const entry of entries) {
    const peer = typeof entry === "string" ? { issuer: entry } : entry;
    if (!peer || typeof peer.issuer !== "string" || peer.issuer === "") {
      throw new ConfigError("each trustedIssuers entry needs an issuer.");
    }
    const issuer = peer.issuer.replace(/\/+$/, "");
    const types = peer.tokenTypes ?? ["at+jwt"];
    if (!Array.isArray(types) || types.length === 0 || types.some((t) => typeof t !== "string")) {
      throw new ConfigError(`trustedIssuers ${issuer}: tokenTypes must be a non-empty list.`);
    }
    const asserts = peer.mayAssert ?? [];
    if (!Array.isArray(asserts) || asserts.some((a) => a !== "roles" && a !== "scope")) {
      throw new ConfigError(`trustedIssuers ${issuer}: mayAssert may name "roles" and "scope".`);
    }
    if (policies.has(issuer)) throw new ConfigError(`trustedIssuers names ${issuer} twice.`);
    policies.set(issuer, {
      issuer,
      tokenTypes: new Set(types.map(normaliseType)),
      roles: asserts.includes("roles"),
      scope: asserts.includes("scope"),
    });
  }
  return policies;
}
