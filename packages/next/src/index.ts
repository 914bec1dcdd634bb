import type {
  AuthenticateOptions,
  BrowserSession,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
import { DEFAULT_ROUTES, DeferredOIDCAuth, runtimeEnv, withSetCookies } from "@oidc-auth/core";
import { redirect } from "next/navigation";
import type { NextRequest, NextResponse } from "next/server.js";
import type { ScopedRequest } from "./request-scope.js";
import { persistCookies, scopedRequest } from "./request-scope.js";
import { continueWith, proxySession } from "./session-proxy.js";

/**
 * What a guard checks: what may authenticate the request (`accept`: a bearer token, the
 * browser session cookie, or either), scopes and claim constraints, and whether a browser
 * navigation without credentials goes to the login (`redirectToLogin`, for page-like route
 * handlers).
 */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

/** What an optional guard checks (it never refuses, so it never redirects). */
export type OptionalGuardOptions = Omit<GuardOptions, "redirectToLogin">;

/** Options of {@link NextOIDCAuth.requireSession}. */
export interface RequireSessionOptions {
  /**
   * Where the login returns to: a path of this app, e.g. `"/profile"`. Default: the page's
   * path as `auth.proxy()` recorded it, else `"/"` (a server component cannot see its URL).
   */
  returnTo?: string;
}

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
    // Page guards send browsers to the login route as the catch-all route serves it.
    loginPath:
      options.loginPath ?? `${DEFAULT_PREFIX}${options.routes?.login || DEFAULT_ROUTES.login}`,
  };
  const edge = runtimeEnv().NEXT_RUNTIME === "edge";
  return edge && withJwks.brokerMode ? edgeBrokerVerification(withJwks) : withJwks;
}

/**
 * oidc-auth for the Next.js App Router: the auth endpoints as the route handlers of one
 * catch-all route, guards that wrap route handlers, and browser sessions for server
 * components and server actions (`session()`, `requireSession()`). The token or session is
 * checked inside the route handler, page or action, never only in middleware/proxy
 * (CVE-2025-29927). Works on the Node.js and the edge runtime.
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
 * // src/app/profile/page.tsx
 * const { token } = await auth.requireSession();             // or off to the login and back
 * ```
 */
export class NextOIDCAuth extends DeferredOIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options, { registry: "@oidc-auth/next", finish: forNext });
  }

  /**
   * `GET` and `POST` for `app/<prefix>/auth/v2/[...oidc]/route.ts`: every enabled endpoint,
   * found by the request's path under `prefix` (default `"/api"`). With another prefix, set
   * `loginPath` (`OIDC_LOGIN_PATH`) to `<prefix>/auth/v2/login` for the page guards.
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
   * Wraps a route handler so that it runs only for an authenticated request: a valid bearer
   * token or the browser session cookie (`accept`: `"bearer"`, `"session"`, default
   * `"both"`), with the required scopes and claims; it receives the route's context plus
   * `token`. Anything else is answered with a 401/403/503 JSON error and `WWW-Authenticate`
   * (a cookie-authenticated unsafe method from another origin: 403), or, with
   * `redirectToLogin`, a browser navigation without credentials goes to the login and back.
   * A renewed session cookie is added to the handler's response.
   *
   * @example
   * ```ts
   * export const GET = auth.withAuth(
   *   async (request, { token, params }) => Response.json({ sub: token.sub, id: (await params).id }),
   *   { scopes: "email", claims: { roles: ["admin"] } },
   * );
   * export const POST = auth.withAuth(async (request, { token }) => save(token.sub, await request.formData()), {
   *   accept: "session",
   * });
   * ```
   */
  withAuth<C = unknown, R extends Request = Request>(
    handler: AuthenticatedHandler<R, C, IDToken>,
    options: GuardOptions = {},
  ): RouteHandler<R, C> {
    const guard = this.guard(options);
    const redirectToLogin = options.redirectToLogin ?? false;
    return async (request, context) => {
      let token: IDToken;
      try {
        token = await guard.check(request);
      } catch (err) {
        return this.refusedResponse(err, request, { redirectToLogin });
      }
      const response = await handler(request, { ...context, token });
      return withSetCookies(response, this.responseCookies(request));
    };
  }

  /**
   * Like {@link withAuth}, but the handler always runs: `token` is the verified token (or
   * session), or `null` when there is none or it does not pass (invalid, wrong scopes or
   * claims, IdP down).
   */
  withOptionalAuth<C = unknown, R extends Request = Request>(
    handler: AuthenticatedHandler<R, C, IDToken | null>,
    options: OptionalGuardOptions = {},
  ): RouteHandler<R, C> {
    const guard = this.guard(options);
    return async (request, context) => {
      const token = await guard.checkOptional(request);
      const response = await handler(request, { ...context, token });
      return withSetCookies(response, this.responseCookies(request));
    };
  }

  /**
   * The browser session of the running request, or `null`: in a server component, a server
   * action or a route handler, read through `next/headers` (the session cookie, the app's
   * origin). A renewed (or cleared) cookie is set through `cookies()` where Next.js allows
   * it (server actions, route handlers); a server component cannot set cookies, which is
   * what `auth.proxy()` is for. In a server action (a request with a body) a session is
   * answered only when the request comes from the app's own origin (`Sec-Fetch-Site` or
   * `Origin`): a cross-site one is anonymous. Throws a 503 `OIDCAuthError` when the store or
   * IdP is unreachable and nothing valid can be served.
   *
   * With a `request` (route handlers), the core's lookup for that Request: append
   * `auth.responseCookies(request)` to your response yourself.
   *
   * @example
   * ```tsx
   * export default async function Header() {
   *   const session = await auth.session();
   *   return session ? <p>Hello {session.token.preferred_username}</p> : <a href="/profile">Sign in</a>;
   * }
   * ```
   */
  override async session(request?: Request): Promise<BrowserSession | null> {
    if (request) return super.session(request);
    return (await this.#scopedSession()).session;
  }

  async #scopedSession(): Promise<ScopedRequest & { session: BrowserSession | null }> {
    const scoped = await scopedRequest(this.core.config);
    const session = await super.session(scoped.request);
    await persistCookies(this.responseCookies(scoped.request));
    if (session && !(await this.sameOrigin(scoped.request, session))) {
      return { ...scoped, session: null };
    }
    return { ...scoped, session };
  }

  /**
   * The browser session of the running request (see {@link session}), or off to the login
   * (`loginPath?return_to=…`, Next.js' `redirect()`) and back to `returnTo`. For server
   * components and server actions; route handlers use {@link withAuth}.
   *
   * @example
   * ```tsx
   * // src/app/profile/page.tsx
   * export default async function Profile() {
   *   const { token, csrfToken } = await auth.requireSession();
   *   return <p>Signed in as {token.preferred_username}</p>;
   * }
   * ```
   */
  async requireSession(options: RequireSessionOptions = {}): Promise<BrowserSession> {
    const { session, request, path } = await this.#scopedSession();
    if (session) return session;
    const location = this.loginRedirect(request, options.returnTo ?? path ?? "/").headers.get(
      "location",
    );
    redirect(location as string);
  }

  /**
   * A Next.js proxy (`src/proxy.ts`; `src/middleware.ts` with `export const middleware` in
   * Next 15) that prepares page requests for {@link session} and {@link requireSession}: it
   * records the page's path for the login's `return_to`, and in passthrough mode renews a
   * session cookie that is about to expire before the page renders, where the renewed
   * cookie can still reach the browser (server components cannot set cookies). It never
   * refuses a request: pages and route handlers check the session themselves.
   *
   * @example
   * ```ts
   * // src/proxy.ts
   * import { auth } from "@/lib/auth";
   *
   * export const proxy = auth.proxy();
   * export const config = { matcher: ["/((?!api/|_next/static|_next/image|favicon.ico).*)"] };
   * ```
   */
  proxy(): (request: NextRequest) => Promise<NextResponse> {
    return async (request) => continueWith(await proxySession(() => this.core, request));
  }
}

export type {
  AuthenticateOptions,
  BrokerStore,
  BrowserSession,
  ClaimConstraints,
  HealthCheck,
  HealthReport,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
export {
  DeferredOIDCAuth,
  errorResponse,
  isBrowserNavigation,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuth,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
