import { Broker } from "./broker/broker.js";
import type { BrokerIdentity } from "./broker/identity.js";
import type { BrokerStore } from "./broker/store.js";
import type { IDToken } from "./claims.js";
import { clientAddressOf } from "./client-ip.js";
import type { EndpointName, OIDCAuthOptions, ResolvedConfig } from "./config.js";
import { resolveConfig } from "./config.js";
import type { AuthContext, AuthenticateOptions } from "./context.js";
import { DevicePolls } from "./device-polls.js";
import { errorResponse, OIDCAuthError } from "./errors.js";
import type { RouteConstraints, RouteGuard } from "./guard.js";
import { Guard } from "./guard.js";
import { describeError } from "./log.js";
import { SealedRefreshTokens } from "./passthrough-refresh.js";
import { IdentityProvider } from "./provider.js";
import { RateLimiter } from "./rate-limiter.js";
import type { HealthReport } from "./readiness.js";
import { checkHealth, healthResponse, NotReadyError } from "./readiness.js";
import { recordClient } from "./request-client.js";
import type { Endpoint } from "./router.js";
import { enabledEndpoints, endpointForMethod, matchEndpoint, normalisePrefix } from "./router.js";
import { ephemeralSecret } from "./seal.js";
import { appOrigin, withSetCookies } from "./session-cookie.js";
import type { BrowserSession } from "./sessions.js";
import { BrowserSessions } from "./sessions.js";
import type { TokenCacheStats, VerifyUncached } from "./token-cache.js";
import { TokenCache } from "./token-cache.js";
import { Transactions } from "./transactions.js";
import { AccessTokenVerifier } from "./verify.js";

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
  readonly #guard: Guard;
  readonly #sessions: BrowserSessions;

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
        "no secret configured: login transactions and passthrough refresh tokens use a per-process key (set OIDC_SECRET for restarts and several instances)",
      );
      secrets = [ephemeralSecret()];
    }
    if (!config.brokerMode && !config.audience && config.acceptAnyAudience) {
      config.logger.warn(
        "acceptAnyAudience: the guard accepts access tokens the identity provider issued for ANY API, not only this one (set audience / OIDC_AUDIENCE as soon as the IdP can put one in its tokens)",
      );
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
    const idpTokens: VerifyUncached = (token) => verifier.verifyWithKid(token);
    const sessions = new BrowserSessions({
      config,
      secrets,
      provider,
      idpVerifier: verifier,
      broker: this.#broker,
      verifyAccessToken: async (token) => tokenCache.verify(token, idpTokens),
    });
    this.#sessions = sessions;
    const guard = new Guard(
      tokenCache,
      this.#verifyUncached,
      config.claims,
      config.logger,
      config.browserSessions ? sessions : undefined,
    );
    this.#guard = guard;
    const bearerOnly = guard.constraints({ accept: "bearer" });
    this.#context = {
      config,
      provider,
      verifier,
      transactions,
      refreshTokens: new SealedRefreshTokens(secrets, config.clientId),
      devicePolls: new DevicePolls(),
      broker: this.#broker,
      sessions,
      requireToken: (request) => guard.verify(request, bearerOnly),
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
    const endpoint = matchEndpoint(this.#endpoints, prefix, pathname, request.method);
    if (endpoint instanceof OIDCAuthError) return errorResponse(endpoint);
    return this.handleEndpoint(endpoint.name, request, { clientIp: options.clientIp });
  }

  /**
   * Serves one named endpoint whatever the request's path (adapters that route by
   * themselves call this); a method the endpoint does not serve is 405 with `Allow`.
   * Never throws.
   */
  async handleEndpoint(
    name: EndpointName,
    request: Request,
    options: HandleEndpointOptions = {},
  ): Promise<Response> {
    const endpoint = endpointForMethod(
      this.#endpoints.filter((e) => e.name === name),
      request.method,
    );
    if (endpoint instanceof OIDCAuthError) return errorResponse(endpoint);
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
    const guard = this.#guard;
    let constraints: RouteConstraints;
    try {
      constraints = guard.constraints(opts);
    } catch (err) {
      return Promise.reject(err); // a ConfigError: the app's mistake, not the caller's
    }
    return guard
      .verify(request, constraints)
      .catch(opts.optional ? guard.refuseOptional : guard.refuse);
  }

  /**
   * The guard of one route, prepared once: the route's constraints are merged with the
   * configured ones here rather than on every request, and {@link RouteGuard.check}
   * answers a token the verified-token cache holds synchronously, so an adapter can keep
   * the route synchronous on the hot path. Throws a ConfigError for claims that are not
   * constraints (at startup, where adapters prepare their routes).
   */
  guard(options?: Omit<AuthenticateOptions, "optional">): RouteGuard {
    return this.#guard.route(this.#guard.constraints(options ?? {}));
  }

  /**
   * Verifies a raw access token (no scope or claim checks): a broker token in broker mode.
   * Like the guard's, the answer is frozen and may come from the verified-token cache.
   */
  async verifyToken(token: string): Promise<IDToken> {
    return this.#tokenCache.verify(token, this.#verifyUncached);
  }

  /**
   * The browser session of a request (its session cookie), renewed at the IdP when its
   * access token is about to expire; `null` without one, or with a cookie that is tampered
   * with, foreign or expired. Set-Cookie values the answer needs (a renewed cookie, or one
   * that clears a bad cookie) are collected for {@link responseCookies}. Throws a 503
   * {@link OIDCAuthError} when the store or IdP is unreachable and nothing valid can be
   * served (the session is kept).
   *
   * @example
   * ```ts
   * const session = await auth.session(request);
   * if (!session) return auth.loginRedirect(request); // to the login and back
   * const page = new Response(`Hello ${session.token.preferred_username}`);
   * return withSetCookies(page, auth.responseCookies(request));
   * ```
   */
  async session(request: Request): Promise<BrowserSession | null> {
    if (!this.config.browserSessions || !this.#sessions.present(request)) return null;
    return (await this.#sessions.lookup(request)) ?? null;
  }

  /**
   * The Set-Cookie values that the guard or {@link session} produced for this request: a
   * renewed session cookie, or the removal of an unusable one. Adapters append them to the
   * response (`Set-Cookie`, one header each).
   */
  responseCookies(request: Request): string[] {
    return this.#sessions.responseCookies(request);
  }

  /**
   * Whether an unsafe request authenticated by this session comes from the app's own origin
   * (`Sec-Fetch-Site`/`Origin`) or carries the session's CSRF token (`X-CSRF-Token` header,
   * or `formToken` from a form field). Safe methods always do. For server actions and form
   * handlers that authenticate with {@link session} themselves.
   */
  sameOrigin(request: Request, session: BrowserSession, formToken?: string): Promise<boolean> {
    return this.#sessions.allows(request, session, formToken);
  }

  /**
   * The redirect that sends a browser to the login and back: `loginPath?return_to=<path>`,
   * `returnTo` defaulting to the request's own path and query (a path of this app).
   */
  loginRedirect(request: Request, returnTo?: string): Response {
    const url = new URL(request.url);
    const back = returnTo ?? `${url.pathname}${url.search}`;
    const loginPath = this.config.loginPath;
    const target = loginPath.startsWith("/")
      ? new URL(loginPath, appOrigin(this.config, request))
      : new URL(loginPath);
    target.searchParams.set("return_to", back);
    const location = loginPath.startsWith("/") ? `${target.pathname}${target.search}` : target.href;
    return new Response(null, {
      status: 303,
      headers: { Location: location, "Cache-Control": "no-store" },
    });
  }

  /**
   * The response for a guard's refusal: a browser navigation without credentials goes to the
   * login and back when `redirectToLogin` is set; anything else is the JSON error. Session
   * cookies to clear are included.
   */
  refusedResponse(
    err: unknown,
    request: Request,
    options: Pick<AuthenticateOptions, "redirectToLogin"> = {},
  ): Response {
    const response =
      options.redirectToLogin &&
      err instanceof OIDCAuthError &&
      err.status === 401 &&
      isBrowserNavigation(request)
        ? this.loginRedirect(request)
        : errorResponse(err);
    return withSetCookies(response, this.responseCookies(request));
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

  /**
   * Checks that this instance can serve: the IdP's discovery document and key set are
   * reachable and, in broker mode, the store opens and its signing key unseals with the
   * configured secrets. Never throws; each check says what failed, where (URL, store
   * folder) and what to do — never a secret. Cheap once warm (cached metadata and keys, one
   * store query): fit for a readiness probe, see {@link healthResponse}.
   */
  health(): Promise<HealthReport> {
    return checkHealth(this.#context);
  }

  /**
   * Resolves with the {@link HealthReport} when every check of {@link health} passes;
   * rejects with {@link NotReadyError}, whose message lists what is wrong, otherwise. Call
   * it at startup to fail early with a clear message instead of answering 503 later.
   *
   * @example
   * ```ts
   * await auth.ready().catch((err) => { console.error(err.message); process.exit(1); });
   * ```
   */
  async ready(): Promise<HealthReport> {
    const report = await this.health();
    if (!report.ok) throw new NotReadyError(report);
    return report;
  }

  /**
   * The answer for a readiness route: 200 `{"status":"ready","checks":{…}}` or 503
   * `{"status":"unavailable","checks":{"discovery":"refused",…}}` (check names and causes
   * only; the details go to {@link health}).
   */
  async healthResponse(): Promise<Response> {
    return healthResponse(await this.health());
  }

  /** Releases the broker store's connections. */
  async close(): Promise<void> {
    await this.#broker?.close();
  }

  #requireBroker(): Broker {
    if (!this.#broker) throw new Error("this instance is not in broker mode");
    return this.#broker;
  }
}

/**
 * Whether a request is a browser navigating to a page (a link, a typed URL, a form's
 * redirect): `Sec-Fetch-Mode: navigate`, or, from browsers that do not send it, a GET that
 * accepts HTML. Page guards redirect these to the login; API calls get 401 JSON.
 */
export function isBrowserNavigation(request: Request): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const mode = request.headers.get("sec-fetch-mode");
  if (mode !== null) return mode === "navigate";
  return (request.headers.get("accept") ?? "").includes("text/html");
}
