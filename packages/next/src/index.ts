import type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
import { errorResponse, OIDCAuth } from "@oidc-auth/core";

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

/**
 * oidc-auth for the Next.js App Router: the auth endpoints as the route handlers of one
 * catch-all route, and guards that wrap route handlers. The token is verified inside the
 * route handler, never only in middleware/proxy (CVE-2025-29927). Works on the Node.js and
 * the edge runtime.
 *
 * @example
 * ```ts
 * // lib/auth.ts
 * export const auth = new NextOIDCAuth(optionsFromEnv(process.env));
 * // app/api/auth/v2/[...oidc]/route.ts
 * export const { GET, POST } = auth.handlers();              // /api/auth/v2/*
 * // app/api/me/route.ts
 * export const GET = auth.withAuth(async (request, { token }) => Response.json({ sub: token.sub }));
 * ```
 */
export class NextOIDCAuth extends OIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options);
  }

  /**
   * `GET` and `POST` for `app/<prefix>/auth/v2/[...oidc]/route.ts`: every enabled endpoint,
   * found by the request's path under `prefix` (default `"/api"`).
   */
  handlers(options: HandlersOptions = {}): {
    GET: (request: Request) => Promise<Response>;
    POST: (request: Request) => Promise<Response>;
  } {
    const prefix = options.prefix ?? "/api";
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
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
export {
  errorResponse,
  MemoryBrokerStore,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
