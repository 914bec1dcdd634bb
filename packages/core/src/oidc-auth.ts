import { Broker } from "./broker/broker.js";
import type { BrokerIdentity } from "./broker/identity.js";
import type { BrokerStore } from "./broker/store.js";
import type { IDToken } from "./claims.js";
import { requireClaims, requireScopes } from "./claims.js";
import { clientAddressOf } from "./client-ip.js";
import type { ClaimConstraints, EndpointName, OIDCAuthOptions, ResolvedConfig } from "./config.js";
import { resolveConfig } from "./config.js";
import type { AuthContext, AuthenticateOptions } from "./context.js";
import { errorResponse, missingToken, OIDCAuthError } from "./errors.js";
import { describeError } from "./log.js";
import { IdentityProvider } from "./provider.js";
import { RateLimiter } from "./rate-limiter.js";
import { recordClient } from "./request-client.js";
import type { Endpoint } from "./router.js";
import { enabledEndpoints, normalisePrefix } from "./router.js";
import { ephemeralSecret } from "./seal.js";
import type { TokenCacheStats, VerifyUncached } from "./token-cache.js";
import { TokenCache } from "./token-cache.js";
import { Transactions } from "./transactions.js";
import { AccessTokenVerifier, extractBearerToken } from "./verify.js";

/**
 * The guard of one route (see {@link OIDCAuth.guard}). `check` answers synchronously when
 * the verified-token cache holds the request's token and the route's constraints pass,
 * and a promise otherwise; it never throws, every refusal is a rejected promise. The
 * token is hashed once per request either way.
 */
export interface RouteGuard {
  /** The verified token, synchronously on a cache hit; rejects with {@link OIDCAuthError}. */
  check(request: Request): IDToken | Promise<IDToken>;
  /** Like `check`, with `null` for a request without an acceptable token. */
  checkOptional(request: Request): IDToken | Promise<IDToken | null>;
  /** The verified token; rejects with {@link OIDCAuthError} (401, 403 or 503). */
  authenticate(request: Request): Promise<IDToken>;
  /** The verified token, or `null` for a request without an acceptable one. */
  optional(request: Request): Promise<IDToken | null>;
}

/** A route's constraints after merging with the configured ones. */
interface RouteConstraints {
  scopes?: string | undefined;
  claims: ClaimConstraints;
}

/** Whether the token passes the constraints (the non-throwing form of the checks). */
function satisfies(token: IDToken, constraints: RouteConstraints): boolean {
  try {
    requireScopes(token, constraints.scopes);
    requireClaims(token, constraints.claims);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link OIDCAuth.handleRequest}. */
export interface HandleRequestOptions {
  /** Path the endpoints are mounted under, e.g. `"/api"`. Default `""`. */
  prefix?: string;
  /**
   * The client's IP address as the connection shows it (a Fetch `Request` has none), for
   * the per-IP rate limits. Adapters pass it where the platform tells them.
   */
  clientIp?: string | undefined;
}

/** Whom {@link OIDCAuth.mintBrokerToken} signs a token for: `sub` and the claims a login would carry. */
export type BrokerUser = Pick<BrokerIdentity, "sub"> &
  Partial<Omit<BrokerIdentity, "sub" | "roleSources">>;

/** Options of {@link OIDCAuth.handleEndpoint}. */
export type HandleEndpointOptions = Pick<HandleRequestOptions, "clientIp">;

/**
 * OpenID Connect for one app: the standard endpoints (login, callback, token, device,
 * logout, userinfo) as Request → Response, and the guard that verifies bearer tokens.
 *
 * @example
 * ```ts
 * const auth = new OIDCAuth({
 *   clientId: "my-client",
 *   clientSecret: process.env.CLIENT_SECRET,
 *   discoveryUrl: "https://kc.example.org/realms/demo/.well-known/openid-configuration",
 *   audience: "my-api",
 *   redirectUris: ["https://app.example.org/callback"],
 *   secret: process.env.OIDC_SECRET,
 * });
 * const response = await auth.handleRequest(request, { prefix: "/api" });
 * const token = await auth.authenticate(request, { scopes: "admin" }); // throws OIDCAuthError
 * ```
 */
export class OIDCAuth {
  /** The options after defaults. */
  readonly config: ResolvedConfig;
  readonly #context: AuthContext;
  readonly #endpoints: Endpoint[];
  readonly #broker: Broker | undefined;
  readonly #tokenCache: TokenCache;
  readonly #rateLimiter: RateLimiter;
  /** The verifier of the guard's tokens: the broker's in broker mode, else the IdP's. */
  readonly #verifyUncached: VerifyUncached;

  constructor(options: OIDCAuthOptions = {}) {
    const config = resolveConfig(options);
    this.config = config;
    const tokenCache = new TokenCache({
      capacity: config.tokenCacheSize,
      maxAgeMs: config.jwksMaxAgeMs,
      clockToleranceSec: config.clockToleranceSec,
      maxTokenBytes: config.maxTokenBytes,
    });
    this.#tokenCache = tokenCache;
    const onKeysRemoved = (kids: readonly (string | undefined)[]) =>
      tokenCache.invalidateKeys(kids);
    const provider = new IdentityProvider(config);
    const verifier = new AccessTokenVerifier(
      config,
      provider,
      config.brokerMode ? undefined : onKeysRemoved,
    );
    let secrets = config.secrets;
    if (!secrets) {
      config.logger.warn(
        "no secret configured: login transactions use a per-process key (set OIDC_SECRET for restarts and several instances)",
      );
      secrets = [ephemeralSecret()];
    }
    this.#broker = config.brokerMode
      ? new Broker(config, provider, verifier, onKeysRemoved)
      : undefined;
    const brokerForLogins = this.#broker;
    const transactions = new Transactions(
      config,
      secrets,
      brokerForLogins && (() => brokerForLogins.store()),
    );
    const guardVerifier = this.#broker?.verifier ?? verifier;
    this.#verifyUncached = (token) => guardVerifier.verifyWithKid(token);
    this.#context = {
      config,
      provider,
      verifier,
      transactions,
      broker: this.#broker,
      requireToken: (request) => this.#verifyRequest(request, { claims: config.claims }),
    };
    this.#endpoints = enabledEndpoints(config);
    const broker = this.#broker;
    this.#rateLimiter = new RateLimiter(config, broker && (() => broker.store()));
  }

  /** The enabled endpoints with their methods and paths (for adapters that register routes). */
  get endpoints(): readonly Pick<Endpoint, "name" | "methods" | "path">[] {
    return this.#endpoints.map(({ name, methods, path }) => ({ name, methods, path }));
  }

  /**
   * Serves the endpoint the request's path names (under `prefix`). Unknown paths answer
   * 404 JSON, wrong methods 405. Never throws: every failure is a JSON error response.
   */
  async handleRequest(request: Request, options: HandleRequestOptions = {}): Promise<Response> {
    const prefix = normalisePrefix(options.prefix);
    let pathname: string;
    try {
      pathname = new URL(request.url).pathname;
    } catch {
      return errorResponse(new OIDCAuthError(400, "invalid_request", "Malformed request URL."));
    }
    const matches = this.#endpoints.filter((e) => `${prefix}${e.path}` === pathname);
    if (matches.length === 0) {
      return errorResponse(new OIDCAuthError(404, "not_found", "No such endpoint."));
    }
    const endpoint = matches.find((e) => (e.methods as readonly string[]).includes(request.method));
    if (!endpoint) {
      return errorResponse(
        new OIDCAuthError(405, "invalid_request", "Method not allowed.", {
          Allow: matches.flatMap((e) => e.methods).join(", "),
        }),
      );
    }
    return this.handleEndpoint(endpoint.name, request, { clientIp: options.clientIp });
  }

  /**
   * Serves one named endpoint whatever the request's path (adapters that route by
   * themselves call this). Never throws.
   */
  async handleEndpoint(
    name: EndpointName,
    request: Request,
    options: HandleEndpointOptions = {},
  ): Promise<Response> {
    const endpoint = this.#endpoints.find((e) => e.name === name);
    if (!endpoint) return errorResponse(new OIDCAuthError(404, "not_found", "No such endpoint."));
    try {
      await this.#rateLimiter.admit(name, request, options.clientIp);
      recordClient(request, clientAddressOf(request, options.clientIp, this.config.clientIpHeader));
      return await endpoint.handler(this.#context, request);
    } catch (err) {
      if (err instanceof OIDCAuthError) {
        this.config.logger.debug(`${name} refused`, { status: err.status, error: err.error });
      } else {
        this.config.logger.error(`unexpected failure in ${name}`, describeError(err));
      }
      return errorResponse(err);
    }
  }

  /**
   * The guard. Verifies the request's bearer token and the scope and claim constraints.
   * Throws {@link OIDCAuthError} (401 missing/invalid, 403 scope/claims, 503 IdP
   * unreachable with no cached keys); with `optional: true` answers `null` instead.
   * A route that guards every request the same way should prepare its guard once with
   * {@link guard}.
   */
  authenticate(
    request: Request,
    options: AuthenticateOptions & { optional: true },
  ): Promise<IDToken | null>;
  authenticate(request: Request, options?: AuthenticateOptions): Promise<IDToken>;
  authenticate(request: Request, options?: AuthenticateOptions): Promise<IDToken | null> {
    const opts = options ?? {}; // also null, from JavaScript
    const verified = this.#verifyRequest(request, this.#constraints(opts));
    return verified.catch(opts.optional ? this.#refuseOptional : this.#refuse);
  }

  /**
   * The guard of one route, prepared once: the route's constraints are merged with the
   * configured ones here rather than on every request, and {@link RouteGuard.check}
   * answers a token the verified-token cache holds synchronously, so an adapter can keep
   * the route synchronous on the hot path.
   */
  guard(options?: Omit<AuthenticateOptions, "optional">): RouteGuard {
    const constraints = this.#constraints(options ?? {});
    const unconstrained = !constraints.scopes && Object.keys(constraints.claims).length === 0;
    const check = (request: Request): IDToken | Promise<IDToken> => {
      const answer = this.#tokenCache.verifyBearer(
        request.headers.get("authorization"),
        this.#verifyUncached,
      );
      if (
        answer !== undefined &&
        !(answer instanceof Promise) &&
        (unconstrained || satisfies(answer, constraints))
      ) {
        return answer;
      }
      return this.#settle(answer, request, constraints);
    };
    return {
      check: (request) => {
        const answer = check(request);
        return answer instanceof Promise ? answer.catch(this.#refuse) : answer;
      },
      checkOptional: (request) => {
        const answer = check(request);
        return answer instanceof Promise ? answer.catch(this.#refuseOptional) : answer;
      },
      authenticate: (request) => this.#verifyRequest(request, constraints).catch(this.#refuse),
      optional: (request) => this.#verifyRequest(request, constraints).catch(this.#refuseOptional),
    };
  }

  /**
   * Verifies a raw access token (no scope or claim checks): a broker token in broker mode.
   * Like the guard's, the answer is frozen and may come from the verified-token cache.
   */
  verifyToken(token: string): Promise<IDToken> {
    return this.#tokenCache.verify(token, this.#verifyUncached);
  }

  /** Size, capacity and hit/miss counts of the guard's verified-token cache. */
  get tokenCacheStats(): TokenCacheStats {
    return this.#tokenCache.stats();
  }

  /**
   * Broker mode: starts a new signing-key generation (race-safe across instances). The
   * retired key stays in the JWKS until the tokens it signed have expired.
   */
  async rotateSigningKey(): Promise<{ kid: string }> {
    return this.#requireBroker().keys.rotate();
  }

  /**
   * Broker mode: signs a broker access token for a user, exactly as a login would (for
   * tests and admin tools). It belongs to no session, so there is nothing to refresh; it is
   * valid for `brokerTokenTtlSec`.
   */
  async mintBrokerToken(
    user: BrokerUser,
    options: { scope?: string } = {},
  ): Promise<{ access_token: string; token_type: "Bearer"; expires_in: number }> {
    const broker = this.#requireBroker();
    if (typeof user?.sub !== "string" || user.sub === "" || user.sub.length > 255) {
      throw new TypeError("mintBrokerToken needs a user with a non-empty sub");
    }
    const { roles = [], ...named } = user;
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== "string")) {
      throw new TypeError("mintBrokerToken: roles must be a list of strings");
    }
    const scope = options.scope ?? this.config.scopes.join(" ");
    const { token, expiresIn } = await broker.mint({ ...named, roles }, scope);
    return { access_token: token, token_type: "Bearer", expires_in: expiresIn };
  }

  /**
   * Broker mode: ends every session of a user (all their logins, on every instance that
   * shares the store), so that no refresh credential of theirs works any more. Access
   * tokens already issued stay valid until they expire. Answers how many sessions ended.
   */
  async revokeUserSessions(sub: string): Promise<number> {
    const broker = this.#requireBroker();
    if (typeof sub !== "string" || sub === "") {
      throw new TypeError("revokeUserSessions needs a non-empty sub");
    }
    return broker.revokeSubject(sub);
  }

  /** Broker mode: the public JWKS of this instance. */
  async brokerJwks() {
    return this.#requireBroker().keys.jwks();
  }

  /** Broker mode: the store (opened on first use). */
  async brokerStore(): Promise<BrokerStore> {
    return this.#requireBroker().store();
  }

  /** Broker mode: deletes expired sessions and keys past retention. */
  async purgeExpired(): Promise<void> {
    await this.#requireBroker().purge();
  }

  /** Releases the broker store's connections. */
  async close(): Promise<void> {
    await this.#broker?.close();
  }

  #requireBroker(): Broker {
    if (!this.#broker) throw new Error("this instance is not in broker mode");
    return this.#broker;
  }

  /** The request's token checked against the route's constraints (hashed once). */
  #verifyRequest(request: Request, constraints: RouteConstraints): Promise<IDToken> {
    const answer = this.#tokenCache.verifyBearer(
      request.headers.get("authorization"),
      this.#verifyUncached,
    );
    return this.#settle(answer, request, constraints);
  }

  /**
   * Finishes a check: waits for the cache's answer, or, for a header the cache did not
   * take (other spellings, no cache), parses it and verifies; then the constraints.
   */
  async #settle(
    answer: IDToken | Promise<IDToken> | undefined,
    request: Request,
    constraints: RouteConstraints,
  ): Promise<IDToken> {
    const token = await (answer ?? this.#verifyBearerToken(request));
    requireScopes(token, constraints.scopes);
    requireClaims(token, constraints.claims);
    return token;
  }

  /** A route's constraints: its own claims on top of the configured ones. */
  #constraints(options: Omit<AuthenticateOptions, "optional">): RouteConstraints {
    return {
      scopes: options.scopes,
      claims: options.claims ? { ...this.config.claims, ...options.claims } : this.config.claims,
    };
  }

  /** Logs a refusal of an optional guard and answers `null`. */
  readonly #refuseOptional = (err: unknown): null => {
    this.#refused(err);
    return null;
  };

  /** Logs a refusal of the guard and throws it (401 for anything unexpected). */
  readonly #refuse = (err: unknown): never => {
    throw this.#refused(err);
  };

  /** Logs a refusal of the guard; answers the error to throw (401 for anything unexpected). */
  #refused(err: unknown): OIDCAuthError {
    if (err instanceof OIDCAuthError) {
      this.config.logger.debug("guard refused a request", {
        status: err.status,
        error: err.error,
      });
      return err;
    }
    this.config.logger.error("unexpected failure in the guard", describeError(err));
    return new OIDCAuthError(401, "invalid_token", "The access token is invalid or expired.");
  }

  /** The request's bearer token verified (through the token cache): the guard's slow path. */
  #verifyBearerToken(request: Request): Promise<IDToken> {
    const raw = extractBearerToken(request, this.config.maxTokenBytes);
    if (raw === undefined) throw missingToken();
    return this.#tokenCache.verify(raw, this.#verifyUncached);
  }
}
