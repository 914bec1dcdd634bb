import type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
import { DeferredOIDCAuth, errorResponse, OIDCAuthError } from "@oidc-auth/core";
import type { Handle, RequestEvent } from "@sveltejs/kit";
import { error, json, text } from "@sveltejs/kit";

/** What the adapter puts into `event.locals`; declare it in `src/app.d.ts` (see the README). */
export interface OIDCAuthLocals {
  token: IDToken | null;
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

/** Options of the guards: the scopes and claims a token must carry. */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

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

/** SvelteKit's CSRF rule (a cross-site form submission is refused) as a 403 answer, or null. */
function refuseCrossSiteForm(request: Request, trustedOrigins: readonly string[]): Response | null {
  const type = request.headers.get("content-type")?.split(";", 1)[0]?.trim().toLowerCase() ?? "";
  if (!FORM_CONTENT_TYPES.includes(type) || !UNSAFE_METHODS.includes(request.method)) return null;
  const origin = request.headers.get("origin");
  if (origin === new URL(request.url).origin) return null;
  if (origin && trustedOrigins.includes(origin)) return null;
  const message = `Cross-site ${request.method} form submissions are forbidden`;
  return request.headers.get("accept") === "application/json"
    ? json({ message }, { status: 403 })
    : text(message, { status: 403 });
}

/**
 * oidc-auth for SvelteKit: `handle()` for hooks.server.ts serves the auth endpoints and
 * sets `event.locals.token`; `withAuth()` guards `+server.ts` endpoints; `requireAuth()`
 * guards `load` functions.
 *
 * @example
 * ```ts
 * // src/lib/server/auth.ts
 * export const auth = new SvelteKitOIDCAuth();
 * // src/hooks.server.ts
 * export const handle = auth.handle({ prefix: "/api" });          // /api/auth/v2/*
 * // src/routes/api/me/+server.ts
 * export const GET = auth.withAuth(({ locals }) => json({ sub: locals.token.sub }));
 * // src/routes/profile/+page.server.ts
 * export const load = async (event) => ({ sub: (await auth.requireAuth(event)).sub });
 * ```
 */
export class SvelteKitOIDCAuth extends DeferredOIDCAuth {
  /**
   * Configuration comes from the `OIDC_*` variables of the running server (explicit options
   * win), read when the first request arrives: `vite build` reads nothing and opens nothing.
   * On adapter-node the instance closes its broker store when the server shuts down.
   */
  constructor(options: OIDCAuthOptions = {}) {
    super(options, { registry: "@oidc-auth/sveltekit" });
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
   * every other request gets `event.locals.token` (the verified token, or `null` for a
   * missing or unacceptable one) and goes on to `resolve(event)`.
   */
  handle(options: HandleOptions = {}): Handle {
    const base = normalisePrefix(options.prefix);
    let authPaths: Set<string> | undefined;
    const trusted = options.csrf === false ? ["*"] : (options.csrf?.trustedOrigins ?? []);
    const csrf = trusted.includes("*") ? undefined : trusted;
    const everyone = this.guard();
    return async ({ event, resolve }) => {
      authPaths ??= new Set(this.core.endpoints.map((e) => `${base}${e.path}`));
      // The path of the request itself (event.url drops `/__data.json`), as the core matches it.
      if (authPaths.has(new URL(event.request.url).pathname)) {
        return this.handleRequest(event.request, { prefix: base, clientIp: clientAddress(event) });
      }
      const refused = csrf && refuseCrossSiteForm(event.request, csrf);
      if (refused) return refused;
      setToken(event.locals, await everyone.checkOptional(event.request));
      return resolve(event);
    };
  }

  /**
   * Guards a `+server.ts` handler: verifies the bearer token (and `scopes`/`claims`) in the
   * endpoint itself, then calls `handler` with `locals.token` set to the token. Failures
   * answer 401/403/503 JSON with `WWW-Authenticate`; the handler's own errors pass through.
   */
  withAuth<E extends RequestEvent = RequestEvent>(
    handler: (event: AuthenticatedEvent<E>) => MaybePromise<Response>,
    options: GuardOptions = {},
  ): (event: E) => Promise<Response> {
    const guard = this.guard(options);
    return async (event) => {
      let token: IDToken;
      try {
        token = await guard.check(event.request);
      } catch (err) {
        return errorResponse(err);
      }
      setToken(event.locals, token);
      return handler(event as AuthenticatedEvent<E>);
    };
  }

  /**
   * For `load` functions and form actions: the verified token, or SvelteKit's `error(status)`
   * (401/403/503) with the JSON error's fields as the body: `message`, `error`,
   * `error_description`.
   */
  async requireAuth(
    event: Pick<RequestEvent, "request">,
    options: GuardOptions = {},
  ): Promise<IDToken> {
    try {
      return await this.authenticate(event.request, options);
    } catch (err) {
      const known =
        err instanceof OIDCAuthError
          ? err
          : new OIDCAuthError(401, "invalid_token", "The access token is invalid or expired.");
      const body = {
        message: known.description,
        error: known.error,
        error_description: known.description,
      };
      error(known.status, body);
    }
  }
}

export type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
export {
  errorResponse,
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
