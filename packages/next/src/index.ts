import type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
import { DeferredOIDCAuth, errorResponse, runtimeEnv } from "@oidc-auth/core";

/** What a guard checks on top of the token's validity: scopes and claim constraints. */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

/** Options of {@link NextOIDCAuth.handlers}. */
export interface HandlersOptions {
  /** Where the endpoints are mounted: `"/api"` (the default) for `app/api/auth/v2/[...oidc]`. */
  prefix?: string;
}

/** A route handler as the App Router calls it: the request and the route's context. */
export type RouteHandler<R extends Request = Request, C = unknown> = (
  request: R,
  context: C,
) => Promise<Response>;

/**
 * A handler behind a guard: the route's context (e.g. `{ params }`, a Promise since Next 15)
 * plus the verified `token`.
 */
export type AuthenticatedHandler<R extends Request, C, T> = (
  request: R,
  context: C & { token: T },
) => Response | Promise<Response>;

/** Where `handlers()` serves the endpoints by default: `app/api/auth/v2/[...oidc]/route.ts`. */
const DEFAULT_PREFIX = "/api";

/**
 * Broker tokens on the edge runtime. Edge routes run in an isolate of their own (on most
 * hosts another machine) that shares neither the broker store nor the signing keys of the
 * Node.js routes that mint the tokens, so they verify broker tokens as any resource server
 * does: the signature from the JWKS the catch-all route publishes, `iss` = the broker's
 * issuer (`proxy`), `aud` = `brokerAudience`, `typ` = at+jwt.
 */
function edgeBrokerVerification(options: OIDCAuthOptions): OIDCAuthOptions {
  if (!options.proxy) {
    throw new Error(
      "oidc-auth: broker tokens on the edge runtime are verified against the app's published keys: set proxy (OIDC_PROXY) to the app's public URL",
    );
  }
  const issuer = options.proxy.replace(/\/+$/, "");
  return {
    ...options,
    brokerMode: false,
    brokerStore: undefined,
    brokerStoreUrl: undefined,
    issuer,
    jwksUri: `${issuer}${options.brokerJwksPath}`,
    audience: options.brokerAudience ?? "oidc-auth",
    accessTokenTypes: ["at+jwt"],
  };
}

/** Next.js specifics, applied to the options once the first request arrives. */
function forNext(options: OIDCAuthOptions): OIDCAuthOptions {
  // Peers and edge routes find the keys where the catch-all route serves them.
  const withJwks = {
    ...options,
    brokerJwksPath: options.brokerJwksPath ?? `${DEFAULT_PREFIX}/auth/v2/.well-known/jwks.json`,
  };
  const edge = runtimeEnv().NEXT_RUNTIME === "edge";
  return edge && withJwks.brokerMode ? edgeBrokerVerification(withJwks) : withJwks;
}

/**
 * oidc-auth for the Next.js App Router: the auth endpoints as the route handlers of one
 * catch-all route, and guards that wrap route handlers. The token is verified inside the
 * route handler, never only in middleware/proxy (CVE-2025-29927). Works on the Node.js and
 * the edge runtime.
 *
 * Configuration comes from the `OIDC_*` variables of the running server (explicit options
 * win), read when the first request arrives: `next build` reads nothing and opens nothing.
 * One instance serves every route of a runtime (one broker store, one set of keys). In
 * broker mode, routes on the edge runtime verify the broker's tokens against the keys the
 * catch-all route publishes (set `OIDC_PROXY` to the app's public URL).
 *
 * @example
 * ```ts
 * // src/lib/auth.ts
 * export const auth = new NextOIDCAuth();
 * // src/app/api/auth/v2/[...oidc]/route.ts
 * export const { GET, POST } = auth.handlers();              // /api/auth/v2/*
 * // src/app/api/me/route.ts
 * export const GET = auth.withAuth(async (request, { token }) => Response.json({ sub: token.sub }));
 * ```
 */
export class NextOIDCAuth extends DeferredOIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options, { registry: "@oidc-auth/next", finish: forNext });
  }

  /**
   * `GET` and `POST` for `app/<prefix>/auth/v2/[...oidc]/route.ts`: every enabled endpoint,
   * found by the request's path under `prefix` (default `"/api"`).
   */
  handlers(options: HandlersOptions = {}): {
    GET: (request: Request) => Promise<Response>;
    POST: (request: Request) => Promise<Response>;
  } {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const serve = (request: Request) => this.handleRequest(request, { prefix });
    return { GET: serve, POST: serve };
  }

  /**
   * Wraps a route handler so that it runs only with a valid bearer token (and the required
   * scopes and claims); it receives the route's context plus `token`. Anything else is
   * answered with a 401/403/503 JSON error and `WWW-Authenticate`.
   *
   * @example
   * ```ts
   * export const GET = auth.withAuth(
   *   async (request, { token, params }) => Response.json({ sub: token.sub, id: (await params).id }),
   *   { scopes: "email", claims: { roles: ["admin"] } },
   * );
   * ```
   */
  withAuth<C = unknown, R extends Request = Request>(
    handler: AuthenticatedHandler<R, C, IDToken>,
    options: GuardOptions = {},
  ): RouteHandler<R, C> {
    const guard = this.guard(options);
    return async (request, context) => {
      let token: IDToken;
      try {
        token = await guard.check(request);
      } catch (err) {
        return errorResponse(err);
      }
      return handler(request, { ...context, token });
    };
  }

  /**
   * Like {@link withAuth}, but the handler always runs: `token` is the verified token, or
   * `null` when there is none or it does not pass (invalid, wrong scopes or claims, IdP down).
   */
  withOptionalAuth<C = unknown, R extends Request = Request>(
    handler: AuthenticatedHandler<R, C, IDToken | null>,
    options: GuardOptions = {},
  ): RouteHandler<R, C> {
    const guard = this.guard(options);
    return async (request, context) => {
      const token = await guard.checkOptional(request);
      return handler(request, { ...context, token });
    };
  }
}

export type {
  AuthenticateOptions,
  BrokerStore,
  ClaimConstraints,
  HealthCheck,
  HealthReport,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
export {
  DeferredOIDCAuth,
  errorResponse,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuth,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
