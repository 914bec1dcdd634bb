import type { JWTPayload, JWTVerifyResult, ProtectedHeaderParameters } from "jose";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import type { IDToken } from "./claims.js";
import { toIDToken } from "./claims.js";
import type { ResolvedConfig } from "./config.js";
import { invalidToken, OIDCAuthError } from "./errors.js";
import { ResilientKeySet } from "./jwks.js";
import { checkVerifiedJwt, precheckCompactJws } from "./jwt-checks.js";
import { describeError } from "./log.js";
import type { IdentityProvider } from "./provider.js";
import type { KeysRemovedListener, VerifiedToken } from "./token-cache.js";

function normaliseMediaType(type: string): string {
  const t = type.toLowerCase();
  return t.startsWith("application/") ? t.slice("application/".length) : t;
}

/**
 * Claims only ID tokens carry (OIDC Core §2, §3.1.3.6, §3.3.2.11): an access token never
 * needs them, so any of them makes a token an ID token, whatever else it says.
 */
const ID_TOKEN_ONLY_CLAIMS = ["nonce", "at_hash", "c_hash", "s_hash"];
/** Keycloak's `typ` claim values of tokens that are not access tokens. */
const NON_ACCESS_TYP_CLAIMS = new Set(["id", "refresh", "offline", "logout"]);

/**
 * Whether a token says it is an access token: the RFC 9068 `typ` header `at+jwt`,
 * Keycloak's `typ` claim `Bearer`, or a claim only access tokens carry (`client_id` of RFC
 * 9068, `scope`, `scp`). ID tokens carry none of these.
 */
function hasAccessTokenMarker(header: ProtectedHeaderParameters, payload: JWTPayload): boolean {
  return (
    (typeof header.typ === "string" && normaliseMediaType(header.typ) === "at+jwt") ||
    (typeof payload.typ === "string" && payload.typ.toLowerCase() === "bearer") ||
    payload.client_id !== undefined ||
    payload.scope !== undefined ||
    payload.scp !== undefined
  );
}

/**
 * The rule that keeps ID tokens (and Keycloak's other kinds) out of the guard. A token is
 * not an access token when it carries a claim only ID tokens carry (`nonce`, `at_hash`,
 * `c_hash`, `s_hash`), a Keycloak `typ` claim of another kind or a Cognito `token_use`
 * other than `access`; or when, without an
 * access-token marker (see {@link hasAccessTokenMarker}), it carries `auth_time` or is
 * addressed to this client (`aud` contains the client id), which is what an ID token is.
 */
export function isNotAnAccessToken(
  header: ProtectedHeaderParameters,
  payload: JWTPayload,
  clientId: string,
): boolean {
  for (const claim of ID_TOKEN_ONLY_CLAIMS) if (Object.hasOwn(payload, claim)) return true;
  const typClaim = payload.typ;
  if (typeof typClaim === "string" && NON_ACCESS_TYP_CLAIMS.has(typClaim.toLowerCase())) {
    return true;
  }
  if (payload.token_use !== undefined && payload.token_use !== "access") return true; // Cognito
  if (hasAccessTokenMarker(header, payload)) return false;
  const aud = payload.aud;
  const toThisClient =
    clientId !== "" && (aud === clientId || (Array.isArray(aud) && aud.includes(clientId)));
  return toThisClient || Object.hasOwn(payload, "auth_time");
}

/**
 * Verifies IdP access tokens (passthrough mode): the shared pre-check of the compact form,
 * signature with the IdP's keys, algorithms from the configured allow-list, `iss` exact,
 * `aud` exact when configured, `azp` (or `client_id`) in `authorizedParties` when
 * configured, `exp`, `iat`, `sub` required and strict (see `checkVerifiedJwt`), and the
 * token kind (no ID tokens, no refresh tokens; see {@link isNotAnAccessToken}). The `typ`
 * header is judged from the header jose verified, so the header is decoded once.
 */
export class AccessTokenVerifier {
  readonly #config: ResolvedConfig;
  readonly #provider: IdentityProvider;
  #keys: ResilientKeySet | undefined;
  #rolePaths: string[];
  readonly #acceptedTypes: ReadonlySet<string>;
  /** A token without `typ` is a plain JWT (RFC 7519 §5.1): accepted only where `JWT` is. */
  readonly #acceptsUntyped: boolean;
  readonly #onKeysRemoved: KeysRemovedListener | undefined;

  constructor(
    config: ResolvedConfig,
    provider: IdentityProvider,
    onKeysRemoved?: KeysRemovedListener,
  ) {
    this.#config = config;
    this.#provider = provider;
    this.#onKeysRemoved = onKeysRemoved;
    this.#rolePaths = config.roleClaims.map((p) => p.replaceAll("{clientId}", config.clientId));
    this.#acceptedTypes = new Set(config.accessTokenTypes.map(normaliseMediaType));
    this.#acceptsUntyped = this.#acceptedTypes.has("jwt");
  }

  /** The IdP's key set (also used to verify ID token signatures). */
  async keySet(): Promise<ResilientKeySet> {
    if (this.#keys) return this.#keys;
    const uri = await this.#provider.jwksUri();
    this.#keys ??= new ResilientKeySet(new URL(uri), {
      cooldownMs: this.#config.jwksCooldownMs,
      maxAgeMs: this.#config.jwksMaxAgeMs,
      timeoutMs: this.#config.timeoutMs,
      fetch: this.#config.fetch,
      logger: this.#config.logger,
      onKeysRemoved: this.#onKeysRemoved,
    });
    return this.#keys;
  }

  async verify(token: string): Promise<IDToken> {
    return (await this.verifyWithKid(token)).token;
  }

  /** {@link verify}, answering also the `kid` of the key that verified the token. */
  async verifyWithKid(token: string): Promise<VerifiedToken> {
    const config = this.#config;
    precheckCompactJws(token, config.maxTokenBytes);
    // Both are known after the first verification: no promise to wait for then. Before
    // that, a token whose header is malformed or of another type is refused without
    // asking the IdP (a 401 stays a 401 while the IdP is unreachable).
    const knownIssuer = this.#provider.knownIssuer();
    let issuer: string;
    let keys: ResilientKeySet;
    if (knownIssuer !== undefined && this.#keys !== undefined) {
      [issuer, keys] = [knownIssuer, this.#keys];
    } else {
      let header: ProtectedHeaderParameters;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw invalidToken();
      }
      this.#checkTyp(header.typ);
      [issuer, keys] = await Promise.all([this.#provider.issuer(), this.keySet()]);
    }
    let verified: JWTVerifyResult;
    try {
      verified = await jwtVerify(token, keys.resolve, {
        algorithms: config.algorithms,
        issuer,
        ...(config.audience ? { audience: config.audience } : {}),
        clockTolerance: config.clockToleranceSec,
        requiredClaims: ["exp", "iat", "iss", "sub"],
      });
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      if (!(err instanceof joseErrors.JOSEError)) {
        config.logger.warn("unexpected token verification failure", describeError(err));
      }
      throw invalidToken();
    }
    const { payload, protectedHeader } = verified;
    this.#checkTyp(protectedHeader.typ);
    checkVerifiedJwt(protectedHeader, payload, config.clockToleranceSec);
    if (isNotAnAccessToken(protectedHeader, payload, config.clientId)) throw invalidToken();
    if (config.authorizedParties !== undefined) {
      const party = payload.azp ?? payload.client_id;
      if (typeof party !== "string" || !config.authorizedParties.has(party)) throw invalidToken();
    }
    return { token: toIDToken(payload, this.#rolePaths), kid: protectedHeader.kid };
  }

  /**
   * Refuses a `typ` outside the accepted types; no `typ` counts as `JWT`. RFC 7515
   * §4.1.9: `typ` compares case-insensitively, with or without `application/`.
   */
  #checkTyp(typ: unknown): void {
    if (typ === undefined) {
      if (!this.#acceptsUntyped) throw invalidToken();
      return;
    }
    if (typeof typ !== "string" || !this.#acceptedTypes.has(normaliseMediaType(typ))) {
      throw invalidToken();
    }
  }
}
