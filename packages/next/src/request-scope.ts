import type { ResolvedConfig } from "@oidc-auth/core";
import { OIDCAuthError, parseSetCookie } from "@oidc-auth/core";
import { cookies, headers } from "next/headers.js";

/**
 * The request header in which `auth.proxy()` hands the page's path and query to server
 * components (they cannot see their own URL), for the login's `return_to`. Only a default:
 * the login checks every `return_to` to be a path of this app.
 */
export const RETURN_TO_HEADER = "x-oidc-auth-return-to";

/** The incoming request of the running server component, server action or route handler. */
export interface ScopedRequest {
  /** A Request for the core: the app's origin, the incoming headers, GET or POST. */
  request: Request;
  /** The path and query `auth.proxy()` recorded for the page, if it ran. */
  path: string | undefined;
}

/**
 * Rebuilds the incoming request from `next/headers` for the core, which wants a Request:
 * the app's origin (`proxy`'s when configured, else the `Host` and `X-Forwarded-Proto`
 * headers as Next.js sees them) and the incoming headers. Requests with a body (a server
 * action: `Next-Action` or `Content-Type`) become POSTs, so the core's same-origin rule
 * applies to them.
 */
export async function scopedRequest(config: ResolvedConfig): Promise<ScopedRequest> {
  const incoming = new Headers(await headers());
  const origin = config.proxy ? new URL(config.proxy).origin : originOfHeaders(incoming);
  const unsafe = incoming.has("next-action") || incoming.has("content-type");
  const request = new Request(`${origin}/`, {
    method: unsafe ? "POST" : "GET",
    headers: incoming,
  });
  const path = incoming.get(RETURN_TO_HEADER) ?? undefined;
  return { request, path };
}

/** `<proto>://<host>` as Next.js' own request URLs are made. */
function originOfHeaders(incoming: Headers): string {
  const host = incoming.get("host") ?? "";
  const proto = (incoming.get("x-forwarded-proto") ?? "").includes("https") ? "https" : "http";
  // A Host that is no host[:port] is not one of this app's requests (only its sender sees this).
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) {
    throw new OIDCAuthError(400, "invalid_request", "The request's Host header is malformed.");
  }
  return `${proto}://${host}`;
}

/**
 * Sets the session cookies the core produced (a renewed session, or the removal of an
 * unusable one) through `cookies()`: possible in server actions and route handlers. A
 * server component cannot set cookies; there the renewal is not persisted (the core serves
 * the renewed passthrough session for a minute to requests with the old cookie) unless
 * `auth.proxy()` already renewed it before the page rendered.
 */
export async function persistCookies(values: readonly string[]): Promise<void> {
  if (values.length === 0) return;
  const store = await cookies();
  try {
    for (const value of values) {
      const {
        name,
        value: content,
        path,
        maxAge,
        httpOnly,
        secure,
        sameSite,
      } = parseSetCookie(value);
      store.set(name, content, { path, maxAge, httpOnly, secure, sameSite });
    }
  } catch {
    // A server component: its cookies are read-only.
  }
}
