import type { JWTVerifyResult, ProtectedHeaderParameters } from "jose";
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import type { IDToken } from "./claims.js";
import { toIDToken } from "./claims.js";
import type { ResolvedConfig } from "./config.js";
import { invalidToken, missingToken, OIDCAuthError } from "./errors.js";
import { ResilientKeySet } from "./jwks.js";
import { describeError } from "./log.js";
import type { IdentityProvider } from "./provider.js";
import type { KeysRemovedListener, VerifiedToken } from "./token-cache.js";

/**
 * The bearer token of a request: the `Bearer` scheme (any case), exactly one token,
 * from the Authorization header only. Returns undefined when there is no such header.
 */
export function extractBearerToken(request: Request, maxBytes: number): string | undefined {
  const header = request.headers.get("authorization");
  if (header === null) return undefined;
  const match = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match?.[1]) throw missingToken();
  const token = match[1];
  if (token.length > maxBytes) throw invalidToken();
  return token;
}

function normaliseMediaType(type: string): string {
  const t = type.toLowerCase();
  return t.startsWith("application/") ? t.slice("application/".length) : t;
}

/** Claims a token of an IdP must never carry to count as an access token. */
const ID_TOKEN_MARKERS = ["at_hash", "c_hash", "s_hash"];
/** Keycloak's `typ` claim values of tokens that are not access tokens. */
const NON_ACCESS_TYP_CLAIMS = new Set(["id", "refresh", "offline", "logout"]);

/**
 * Verifies IdP access tokens (passthrough mode): signature with the IdP's keys, algorithms
 * from the configured allow-list, `iss` exact, `aud` exact when configured, `exp`, `iat`,
 * `sub` required, and the token kind (no ID tokens, no refresh tokens). The `typ` header is
 * judged from the header jose verified, so the header is decoded once.
 */
export class AccessTokenVerifier {
  readonly #config: ResolvedConfig;
  readonly #provider: IdentityProvider;
  #keys: ResilientKeySet | undefined;
  #rolePaths: string[];
  readonly #acceptedTypes: ReadonlySet<string>;
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
    if (token.length > this.#config.maxTokenBytes) throw invalidToken();
    if (token.split(".").length !== 3) throw invalidToken(); // JWE (5 parts) and garbage
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
        algorithms: this.#config.algorithms,
        issuer,
        ...(this.#config.audience ? { audience: this.#config.audience } : {}),
        clockTolerance: this.#config.clockToleranceSec,
        requiredClaims: ["exp", "iat", "iss", "sub"],
      });
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      if (!(err instanceof joseErrors.JOSEError)) {
        this.#config.logger.warn("unexpected token verification failure", describeError(err));
      }
      throw invalidToken();
    }
    const { payload, protectedHeader } = verified;
    this.#checkTyp(protectedHeader.typ);
    for (const marker of ID_TOKEN_MARKERS) if (marker in payload) throw invalidToken();
    const typClaim = payload.typ;
    if (typeof typClaim === "string" && NON_ACCESS_TYP_CLAIMS.has(typClaim.toLowerCase())) {
      throw invalidToken();
    }
    return { token: toIDToken(payload, this.#rolePaths), kid: protectedHeader.kid };
  }

  /**
   * Refuses a `typ` outside the accepted types (absent is fine). RFC 7515 §4.1.9: `typ`
   * compares case-insensitively, with or without `application/`.
   */
  #checkTyp(typ: unknown): void {
    if (typ === undefined) return;
    if (typeof typ !== "string" || !this.#acceptedTypes.has(normaliseMediaType(typ))) {
      throw invalidToken();
    }
  }
}
