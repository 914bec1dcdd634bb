import type {
  AuthenticateOptions,
  BrowserSession,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
import {
  DEFAULT_ROUTES,
  DeferredOIDCAuth,
  isBrowserNavigation,
  OIDCAuthError,
  withSetCookies,
} from "@oidc-auth/core";
import type { Handle, RequestEvent } from "@sveltejs/kit";
import { error, json, redirect, text } from "@sveltejs/kit";

/** What the adapter puts into `event.locals`; declare it in `src/app.d.ts` (see the README). */
export interface OIDCAuthLocals {
  /** The verified token: the bearer token's, else the browser session's; `null` for none. */
  token: IDToken | null;
  /** The browser session of the request's session cookie, or `null`. */
  session: BrowserSession | null;
}

/** Options of {@link SvelteKitOIDCAuth.handle}. */
export interface HandleOptions {
  /** Path the auth endpoints are mounted under, e.g. `"/api"`. Default `""`. */
  prefix?: string;
  /**
   * Cross-site form submissions. SvelteKit's own origin check runs before any hook and
   * cannot exempt a route, yet the token endpoint takes form posts without an `Origin`. So
   * turn it off (`csrf: { trustedOrigins: ["*"] }` in svelte.config.js): `handle()` applies
   * the same rule to every request except the auth endpoints, trusting `trustedOrigins`
   * too. `false`, or `"*"` among the origins, means no check. Default `{}`.
   */
  csrf?: { trustedOrigins?: readonly string[] } | false;
}

/**
 * Options of the guards: the scopes and claims a token must carry, what may authenticate
 * the request (`accept`: `"bearer"`, `"session"` or `"both"`, the default) and whether a
 * browser navigation without credentials goes to the login (`redirectToLogin`; default
 * true for {@link SvelteKitOIDCAuth.requireAuth}, false for {@link SvelteKitOIDCAuth.withAuth}).
 */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

/** The parts of a request event {@link SvelteKitOIDCAuth.requireAuth} reads. */
export type GuardedEvent = Pick<RequestEvent, "request"> &
  Partial<Pick<RequestEvent, "url" | "isDataRequest">>;

/** A request event whose `locals.token` is the verified token (inside `withAuth`). */
export type AuthenticatedEvent<E extends RequestEvent = RequestEvent> = E & {
  locals: E["locals"] & { token: IDToken };
};

type MaybePromise<T> = T | Promise<T>;

/** Content types of the form submissions SvelteKit's CSRF check covers. */
const FORM_CONTENT_TYPES = [
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "text/plain",
  "application/x-sveltekit-formdata",
];
const UNSAFE_METHODS = ["POST", "PUT", "PATCH", "DELETE"];

/** "" or "/api": leading slash, no trailing slash (as the core reads `prefix`). */
function normalisePrefix(prefix: string | undefined): string {
  if (!prefix || prefix === "/") return "";
  const withSlash = prefix.startsWith("/") ? prefix : `/${prefix}`;
  return withSlash.replace(/\/+$/, "");
}

/** The Node.js process, where there is one. */
function runtimeProcess(): { once?(event: string, listener: () => void): unknown } | undefined {
  return (globalThis as { process?: { once?(event: string, listener: () => void): unknown } })
    .process;
}

function setToken(locals: App.Locals, token: IDToken | null): void {
  (locals as OIDCAuthLocals).token = token;
}

function setSession(locals: App.Locals, session: BrowserSession | null): void {
  (locals as OIDCAuthLocals).session = session;
}

/**
 * Whether a form submission comes from the app's own pages, by the rule the core applies to
 * cookie-authenticated requests: `Sec-Fetch-Site: same-origin` where the browser sends it,
 * else an `Origin` equal to the app's (the request's, or `OIDC_PROXY`'s behind a proxy);
 * and, as in SvelteKit, an `Origin` among `trustedOrigins`.
 */
function fromOwnPages(
  request: Request,
  appOrigins: readonly string[],
  trustedOrigins: readonly string[],
): boolean {
  const origin = request.headers.get("origin");
  if (origin !== null && trustedOrigins.includes(origin)) return true;
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site === "same-origin";
  return origin !== null && appOrigins.includes(origin);
}

/** SvelteKit's CSRF rule (a cross-site form submission is refused) as a 403 answer, or null. */
function refuseCrossSiteForm(
  request: Request,
  appOrigins: readonly string[],
  trustedOrigins: readonly string[],
): Response | null {
  const type = request.headers.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  if (!FORM_CONTENT_TYPES.includes(type) || !UNSAFE_METHODS.includes(request.method)) return null;
  if (fromOwnPages(request, appOrigins, trustedOrigins)) return null;
  const message = `Cross-site ${request.method} form submissions are forbidden`;
  return request.headers.get("accept") === "application/json"
    ? json({ message }, { status: 403 })
    : text(message, { status: 403 });
}

/** Where the adapter's hook is mounted, known once `handle()` ran (at module load). */
interface Mount {
  prefix: string;
}

/** `loginPath` defaults to the login route under the hook's prefix (unless set explicitly). */
function withLoginPath(options: OIDCAuthOptions, mount: Mount): OIDCAuthOptions {
  if (options.loginPath !== undefined) return options;
  const login = options.routes?.login === undefined ? DEFAULT_ROUTES.login : options.routes.login;
  if (!login) return options;
  return { ...options, loginPath: `${mount.prefix}${login}` };
}

/**
 * oidc-auth for SvelteKit: `handle()` for hooks.server.ts serves the auth endpoints and
 * sets `event.locals.token` and `event.locals.session`; `withAuth()` guards `+server.ts`
 * endpoints; `requireAuth()` guards `load` functions and form actions. Requests are
 * authenticated by a bearer token or by the browser session's `HttpOnly` cookie, which
 * `GET <prefix>/auth/v2/login?return_to=/page` starts and `POST <prefix>/auth/v2/logout` ends.
 *
 * @example
 * ```ts
 * // src/lib/server/auth.ts
 * export const auth = new SvelteKitOIDCAuth();
 * // src/hooks.server.ts
 * export const handle = auth.handle({ prefix: "/api" });          // /api/auth/v2/*
 * // src/routes/api/me/+server.ts
 * export const GET = auth.withAuth(({ locals }) => json({ sub: locals.token.sub }));
 * // src/routes/profile/+page.server.ts — no session: to the login and back
 * export const load = async (event) => ({ sub: (await auth.requireAuth(event)).sub });
 * ```
 */
export class SvelteKitOIDCAuth extends DeferredOIDCAuth {
  readonly #mount: Mount;

  /**
   * Configuration comes from the `OIDC_*` variables of the running server (explicit options
   * win), read when the first request arrives: `vite build` reads nothing and opens nothing.
   * `loginPath` defaults to the login route under `handle()`'s prefix
   * (`"/api/auth/v2/login"` for `handle({ prefix: "/api" })`). On adapter-node the instance
   * closes its broker store when the server shuts down.
   */
  constructor(options: OIDCAuthOptions = {}) {
    const mount: Mount = { prefix: "" };
    super(options, {
      registry: "@oidc-auth/sveltekit",
      finish: (merged) => withLoginPath(merged, mount),
    });
    this.#mount = mount;
  }

  override get core() {
    const starting = !this.started;
    const core = super.core;
    // adapter-node emits this once the server has stopped taking requests (SIGINT/SIGTERM).
    if (starting) runtimeProcess()?.once?.("sveltekit:shutdown", () => void this.close());
    return core;
  }

  /**
   * The hook: a request for an auth endpoint under `prefix` is answered by oidc-auth;
   * every other request gets `event.locals.token` (the verified token of the bearer token
   * or the session cookie, or `null` for a missing or unacceptable one) and
   * `event.locals.session` (the browser session, or `null`; for an unsafe method only from
   * the app's own pages), goes on to `resolve(event)`, and its response carries the session
   * cookies the request renewed or cleared. Call it at module load (hooks.server.ts): it
   * sets the prefix of the default `loginPath`.
   */
  handle(options: HandleOptions = {}): Handle {
    const base = normalisePrefix(options.prefix);
    if (!this.started) this.#mount.prefix = base;
    let authPaths: Set<string> | undefined;
    const trusted = options.csrf === false ? ["*"] : (options.csrf?.trustedOrigins ?? []);
    const csrf = trusted.includes("*") ? undefined : trusted;
    const everyone = this.guard();
    return async ({ event, resolve }) => {
      const { request } = event;
      authPaths ??= new Set(this.core.endpoints.map((e) => `${base}${e.path}`));
      // The path of the request itself (event.url drops `/__data.json`), as the core matches it.
      if (authPaths.has(new URL(request.url).pathname)) {
        return this.handleRequest(request, { prefix: base, clientIp: clientAddress(event) });
      }
      const refused = csrf && refuseCrossSiteForm(request, this.#appOrigins(request), csrf);
      if (refused) return refused;
      const [token, session] = await Promise.all([
        everyone.checkOptional(request),
        this.#ownSession(request),
      ]);
      setToken(event.locals, token);
      setSession(event.locals, session);
      return withSetCookies(await resolve(event), this.responseCookies(request));
    };
  }

  /** The request's origin and, behind a proxy, the app's public one (`OIDC_PROXY`). */
  #appOrigins(request: Request): string[] {
    const own = new URL(request.url).origin;
    const proxy = this.core.config.proxy;
    return proxy ? [own, new URL(proxy).origin] : [own];
  }

  /**
   * The browser session for `locals`: null without one, when the store or the IdP cannot
   * be reached (the guards then answer 503), and for an unsafe request from another site.
   */
  async #ownSession(request: Request): Promise<BrowserSession | null> {
    const session = await this.session(request).catch(() => null);
    if (!session) return null;
    return (await this.sameOrigin(request, session)) ? session : null;
  }

  /**
   * Guards a `+server.ts` handler (an API): verifies the bearer token or the session cookie
   * (and `scopes`/`claims`) in the endpoint itself, then calls `handler` with `locals.token`
   * set to the token. An unsafe method authenticated by the cookie must come from the app's
   * own origin or carry the session's `X-CSRF-Token` (else 403). Failures answer 401/403/503
   * JSON with `WWW-Authenticate`; the handler's own errors pass through.
   */
  withAuth<E extends RequestEvent = RequestEvent>(
    handler: (event: AuthenticatedEvent<E>) => MaybePromise<Response>,
    options: GuardOptions = {},
  ): (event: E) => Promise<Response> {
    const guard = this.guard(options);
    const refusal = { redirectToLogin: options.redirectToLogin ?? false };
    return async (event) => {
      const { request } = event;
      let token: IDToken;
      try {
        token = await guard.check(request);
      } catch (err) {
        return this.refusedResponse(err, request, refusal);
      }
      setToken(event.locals, token);
      return withSetCookies(
        await handler(event as AuthenticatedEvent<E>),
        this.responseCookies(request),
      );
    };
  }

  /**
   * For `load` functions and form actions (pages): the verified token of the bearer token or
   * the session cookie. A browser navigating to the page without credentials, by a full page
   * load or by SvelteKit's client-side navigation (its `__data.json` request), is sent to the
   * login and back to the page (SvelteKit's `redirect(303)`; `redirectToLogin: false` turns
   * that off). Other refusals throw SvelteKit's `error(status)` (401/403/503) with the JSON
   * error's fields as the body: `message`, `error`, `error_description`. A form action
   * authenticated by the cookie must be posted from the app's own origin (else 403).
   */
  async requireAuth(event: GuardedEvent, options: GuardOptions = {}): Promise<IDToken> {
    const { redirectToLogin = true, ...guardOptions } = options;
    const { request } = event;
    try {
      return await this.authenticate(request, guardOptions);
    } catch (err) {
      const known =
        err instanceof OIDCAuthError
          ? err
          : new OIDCAuthError(401, "invalid_token", "The access token is invalid or expired.");
      if (
        redirectToLogin &&
        known.status === 401 &&
        (event.isDataRequest === true || isBrowserNavigation(request))
      ) {
        // The page's own URL: event.url without `/__data.json` for a client-side navigation.
        const page = event.url ? `${event.url.pathname}${event.url.search}` : undefined;
        const location = this.loginRedirect(request, page).headers.get("location");
        if (location) redirect(303, location);
      }
      const body = {
        message: known.description,
        error: known.error,
        error_description: known.description,
      };
      error(known.status, body);
    }
  }
}

export type {
  AuthenticateOptions,
  BrowserSession,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
export {
  errorResponse,
  isBrowserNavigation,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";

/**
 * The client's address as SvelteKit's adapter knows it (for the per-IP rate limits); none
 * where the adapter cannot tell (it then throws) — the per-credential limits still apply.
 */
function clientAddress(event: RequestEvent): string | undefined {
  try {
    return event.getClientAddress();
  } catch {
    return undefined;
  }
}
