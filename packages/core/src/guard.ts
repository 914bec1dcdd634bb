import { readBearerToken } from "./bearer.js";
import type { IDToken } from "./claims.js";
import { requireClaims, requireScopes } from "./claims.js";
import type { ResolvedClaimConstraints } from "./config.js";
import { ConfigError, resolveClaimConstraints } from "./config.js";
import type { AuthenticateOptions } from "./context.js";
import { missingToken, OIDCAuthError } from "./errors.js";
import type { Logger } from "./log.js";
import { describeError } from "./log.js";
import type { BrowserSessions } from "./sessions.js";
import type { TokenCache, VerifyUncached } from "./token-cache.js";

/**
 * The guard of one route (see `OIDCAuth.guard`). `check` answers synchronously when the
 * verified-token cache holds the request's token and the route's constraints pass, and a
 * promise otherwise; it never throws, every refusal is a rejected promise. The token is
 * hashed once per request either way.
 */
export interface RouteGuard {
  /** The verified token, synchronously on a cache hit; rejects with {@link OIDCAuthError}. */
  check(request: Request): IDToken | Promise<IDToken>;
  /** Like `check`, with `null` for a request without an acceptable token. */
  checkOptional(request: Request): IDToken | Promise<IDToken | null>;
  /** The verified token; rejects with {@link OIDCAuthError} (400, 401, 403 or 503). */
  authenticate(request: Request): Promise<IDToken>;
  /** The verified token, or `null` for a request without an acceptable one. */
  optional(request: Request): Promise<IDToken | null>;
}

/** A route's constraints after merging with the configured ones. */
export interface RouteConstraints {
  scopes: string | undefined;
  claims: ResolvedClaimConstraints;
  /** No scopes and no claims: a cache hit is answered without looking at its claims. */
  none: boolean;
  /** What may authenticate the request: bearer token, session cookie, or either. */
  accept: "bearer" | "session" | "both";
}

/**
 * The guard: reads the request's bearer token (`bearer.ts`), verifies it through the
 * verified-token cache, checks a route's scopes and claims, and maps every refusal to an
 * {@link OIDCAuthError} (anything unexpected becomes a 401 and is logged).
 */
export class Guard {
  readonly #cache: TokenCache;
  readonly #verifyUncached: VerifyUncached;
  readonly #configuredClaims: ResolvedClaimConstraints;
  readonly #logger: Logger;
  readonly #sessions: BrowserSessions | undefined;

  /** `sessions`: the browser sessions whose cookie a guard may accept (none: bearer only). */
  constructor(
    cache: TokenCache,
    verifyUncached: VerifyUncached,
    configuredClaims: ResolvedClaimConstraints,
    logger: Logger,
    sessions?: BrowserSessions,
  ) {
    this.#cache = cache;
    this.#verifyUncached = verifyUncached;
    this.#configuredClaims = configuredClaims;
    this.#logger = logger;
    this.#sessions = sessions;
  }

  /**
   * A route's constraints: its own claims on top of the configured ones. Throws a
   * ConfigError for claims that are not constraints (see `resolveClaimConstraints`).
   */
  constraints(options: Omit<AuthenticateOptions, "optional">): RouteConstraints {
    const own = resolveClaimConstraints(options.claims, "claims of a guard");
    const claims = Object.keys(own).length
      ? { ...this.#configuredClaims, ...own }
      : this.#configuredClaims;
    const scopes = options.scopes || undefined;
    const accept = options.accept ?? "both";
    if (accept !== "bearer" && accept !== "session" && accept !== "both") {
      throw new ConfigError('accept of a guard must be "bearer", "session" or "both".');
    }
    return {
      scopes,
      claims,
      none: scopes === undefined && Object.keys(claims).length === 0,
      accept,
    };
  }

  /** The guard of one route, its constraints merged once. */
  route(constraints: RouteConstraints): RouteGuard {
    return {
      check: (request) => {
        const answer = this.check(request, constraints);
        return answer instanceof Promise ? answer.catch(this.refuse) : answer;
      },
      checkOptional: (request) => {
        const answer = this.check(request, constraints);
        return answer instanceof Promise ? answer.catch(this.refuseOptional) : answer;
      },
      authenticate: (request) => this.verify(request, constraints).catch(this.refuse),
      optional: (request) => this.verify(request, constraints).catch(this.refuseOptional),
    };
  }

  /**
   * The request's token checked against the constraints: synchronously on a cache hit
   * that passes them, else a promise (rejected with the refusal as it was raised).
   */
  check(request: Request, constraints: RouteConstraints): IDToken | Promise<IDToken> {
    let answer: IDToken | Promise<IDToken>;
    try {
      const token = readBearerToken(request);
      if (token === undefined) {
        if (constraints.accept !== "bearer" && this.#sessions?.present(request)) {
          return this.#fromSession(this.#sessions, request, constraints);
        }
        throw missingToken();
      }
      if (constraints.accept === "session") throw missingToken();
      answer = this.#cache.verify(token, this.#verifyUncached);
      if (answer instanceof Promise) return answer.then((t) => satisfy(t, constraints));
      return satisfy(answer, constraints);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The request's browser session checked against the constraints; an unsafe method must
   * come from the app's own origin (or carry the session's CSRF token).
   */
  async #fromSession(
    sessions: BrowserSessions,
    request: Request,
    constraints: RouteConstraints,
  ): Promise<IDToken> {
    const session = await sessions.lookup(request);
    if (!session) throw missingToken();
    await sessions.requireAllowed(request, session);
    return satisfy(session.token, constraints);
  }

  /** {@link check}, always as a promise. */
  verify(request: Request, constraints: RouteConstraints): Promise<IDToken> {
    const answer = this.check(request, constraints);
    return answer instanceof Promise ? answer : Promise.resolve(answer);
  }

  /** Logs a refusal of an optional guard and answers `null`. */
  readonly refuseOptional = (err: unknown): null => {
    this.#refused(err);
    return null;
  };

  /** Logs a refusal of the guard and throws it (401 for anything unexpected). */
  readonly refuse = (err: unknown): never => {
    throw this.#refused(err);
  };

  #refused(err: unknown): OIDCAuthError {
    if (err instanceof OIDCAuthError) {
      this.#logger.debug("guard refused a request", { status: err.status, error: err.error });
      return err;
    }
    this.#logger.error("unexpected failure in the guard", describeError(err));
    return new OIDCAuthError(401, "invalid_token", "The access token is invalid or expired.");
  }
}

/** The token, if it has every required scope and passes the claim constraints (else throws). */
function satisfy(token: IDToken, constraints: RouteConstraints): IDToken {
  if (constraints.none) return token;
  requireScopes(token, constraints.scopes);
  requireClaims(token, constraints.claims);
  return token;
}
