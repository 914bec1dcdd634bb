import type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
import { OIDCAuth, withSetCookies } from "@oidc-auth/core";
import type { Context, Handler, MiddlewareHandler } from "hono";
import { Hono } from "hono";

/** Context variables the guards set: `c.get("token")`. */
export interface OIDCAuthVariables {
  token: IDToken;
}

/** The Hono environment of routes behind `required()`. */
export interface OIDCAuthEnv {
  Variables: OIDCAuthVariables;
}

/** The Hono environment of routes behind `optional()`: the token may be null. */
export interface OptionalOIDCAuthEnv {
  Variables: { token: IDToken | null };
}

/**
 * oidc-auth for Hono: the auth endpoints as a sub-app and guards as middleware.
 *
 * @example
 * ```ts
 * const auth = new HonoOIDCAuth(optionsFromEnv(process.env));
 * const app = new Hono();
 * app.route("/api", auth.routes());                       // /api/auth/v2/*
 * app.get("/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
 * app.get("/hello", auth.optional(), (c) => c.text(c.get("token")?.sub ?? "anonymous"));
 * ```
 */
export class HonoOIDCAuth extends OIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options);
  }

  /** A Hono app serving every enabled endpoint at its path; mount it with `app.route()`. */
  routes(options: RoutesOptions = {}): Hono {
    const clientIp = options.clientIp ?? nodeSocketAddress;
    const app = new Hono();
    for (const { name, path } of this.endpoints) {
      // Every method: the core answers the ones an endpoint does not serve with 405 + Allow.
      app.all(path, (c) => this.handleEndpoint(name, c.req.raw, { clientIp: clientIp(c) }));
    }
    return app;
  }

  /**
   * Lets a request through only with a valid token (401/403/503 JSON errors otherwise);
   * the token is `c.get("token")`.
   *
   * - `required(options?)` is middleware: `app.get("/me", auth.required(), handler)`.
   * - `required(handler, options?)` wraps one handler: `app.get("/me", auth.required(handler))`.
   *   Same guard, but on @hono/node-server a request whose token the cache holds stays
   *   synchronous when the handler is: Hono runs any route with middleware asynchronously.
   */
  required(options?: GuardOptions): MiddlewareHandler<OIDCAuthEnv>;
  // biome-ignore lint/suspicious/noExplicitAny: Hono's own default path of a handler built apart from its route
  required<P extends string = any>(
    handler: Handler<OIDCAuthEnv, P>,
    options?: GuardOptions,
  ): Handler<OIDCAuthEnv, P>;
  required<P extends string>(
    first?: GuardOptions | Handler<OIDCAuthEnv, P>,
    second?: GuardOptions,
  ): MiddlewareHandler<OIDCAuthEnv> | Handler<OIDCAuthEnv, P> {
    const { handler, options } = guardArguments(first, second);
    const guard = this.guard(options);
    const refused = (request: Request) => (err: unknown) =>
      this.refusedResponse(err, request, options);
    return guardedRoute(this, (request) => guard.check(request), handler, refused);
  }

  /**
   * Sets `c.get("token")` to the verified token, or `null` for a request without an
   * acceptable one; never refuses. Like {@link required}: middleware, or the wrapper of one
   * handler with `optional(handler, options?)`.
   */
  optional(options?: GuardOptions): MiddlewareHandler<OptionalOIDCAuthEnv>;
  // biome-ignore lint/suspicious/noExplicitAny: Hono's own default path of a handler built apart from its route
  optional<P extends string = any>(
    handler: Handler<OptionalOIDCAuthEnv, P>,
    options?: GuardOptions,
  ): Handler<OptionalOIDCAuthEnv, P>;
  optional<P extends string>(
    first?: GuardOptions | Handler<OptionalOIDCAuthEnv, P>,
    second?: GuardOptions,
  ): MiddlewareHandler<OptionalOIDCAuthEnv> | Handler<OptionalOIDCAuthEnv, P> {
    const { handler, options } = guardArguments(first, second);
    const guard = this.guard(options);
    return guardedRoute(this, (request) => guard.checkOptional(request), handler);
  }
}

/** Options of `routes()`. */
export interface RoutesOptions {
  /**
   * The client's address for the per-IP rate limits. Default: the socket's address on
   * `@hono/node-server`; on other runtimes pass their helper's, e.g.
   * `(c) => getConnInfo(c).remote.address` from `hono/bun` or `hono/deno`.
   */
  clientIp?: (c: Context) => string | undefined;
}

/** The socket's address on @hono/node-server (where its `getConnInfo` reads it); else none. */
function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as
    | { incoming?: { socket?: { remoteAddress?: unknown } }; server?: unknown }
    | undefined;
  const bindings = (env?.server ?? env) as typeof env;
  const address = bindings?.incoming?.socket?.remoteAddress;
  return typeof address === "string" ? address : undefined;
}

/** `(options?)` or `(handler, options?)`: the arguments of `required()` and `optional()`. */
function guardArguments<H>(
  first: GuardOptions | H | undefined,
  second: GuardOptions | undefined,
): { handler: H | undefined; options: GuardOptions } {
  return typeof first === "function"
    ? { handler: first, options: second ?? {} }
    : { handler: undefined, options: (first as GuardOptions | undefined) ?? {} };
}

/**
 * The guard as Hono middleware (no handler) or as the wrapper of one handler: sets
 * `token`, then runs the handler or the next one. An answer the guard has at once (a
 * cached bearer token) keeps the route synchronous; a refusal becomes `refused`'s response
 * (none for `optional`). A request authenticated by its session cookie may need cookies
 * set (a renewed session, or one cleared): they are added to the route's response.
 */
function guardedRoute<T, P extends string>(
  auth: OIDCAuth,
  check: (request: Request) => T | Promise<T>,
  handler: Handler<{ Variables: { token: T } }, P> | undefined,
  refused?: (request: Request) => (err: unknown) => Response,
): Handler<{ Variables: { token: T } }, P> {
  const run = handler ?? ((_c, next) => next());
  return (c, next) => {
    const request = c.req.raw;
    const answer = check(request);
    if (!(answer instanceof Promise)) {
      c.set("token", answer);
      return run(c, next);
    }
    return answer.then(async (token) => {
      c.set("token", token);
      const response = await run(c, next);
      const cookies = auth.responseCookies(request);
      if (cookies.length === 0) return response;
      if (response instanceof Response) return withSetCookies(response, cookies);
      c.res = withSetCookies(c.res, cookies);
      return response;
    }, refused?.(request));
  };
}

/**
 * Options of `required()` and `optional()`: the route's scope and claim constraints, what
 * may authenticate (`accept`: bearer token, session cookie, or both), and for pages
 * `redirectToLogin` (a browser navigation without a session goes to the login and back).
 */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

export type {
  AuthenticateOptions,
  BrowserSession,
  HealthCheck,
  HealthReport,
  IDToken,
  Logger,
  OIDCAuthOptions,
  RouteGuard,
} from "@oidc-auth/core";
export {
  ConfigError,
  errorResponse,
  isBrowserNavigation,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
