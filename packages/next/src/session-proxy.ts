import type { OIDCAuth } from "@oidc-auth/core";
import { parseSetCookie } from "@oidc-auth/core";
import type { NextRequest } from "next/server.js";
import { NextResponse } from "next/server.js";
import { RETURN_TO_HEADER } from "./request-scope.js";

/** What the proxy hands to the route after it: request headers, and cookies for the browser. */
export interface ProxyOutcome {
  /** The request headers the page sees (session cookie renewed, return path recorded). */
  requestHeaders: Headers;
  /** Set-Cookie values for the response. */
  setCookies: string[];
}

/**
 * The work of `auth.proxy()` for one request, before the page renders:
 *
 * - Records the page's path and query for `requireSession()`'s `return_to`.
 * - Passthrough mode, `GET`/`HEAD` with a session cookie: looks the session up, so that a
 *   renewal at the IdP happens here, where cookies can still be set (a server component
 *   cannot). The renewed (or cleared) cookie goes to the browser, and replaces the old one
 *   in the request the page sees, so the page does not renew it a second time.
 *
 * Broker sessions are left alone: their cookie never changes, and the proxy may run where
 * the store of an in-memory broker is not. A store or IdP failure is left to the page.
 */
export async function proxySession(
  instance: () => OIDCAuth,
  request: NextRequest,
): Promise<ProxyOutcome> {
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set(RETURN_TO_HEADER, `${request.nextUrl.pathname}${request.nextUrl.search}`);
  const unchanged = { requestHeaders, setCookies: [] };
  const safe = request.method === "GET" || request.method === "HEAD";
  if (!safe) return unchanged;
  let core: OIDCAuth;
  try {
    core = instance();
  } catch {
    // A configuration this runtime cannot serve (e.g. Next 15's edge middleware in broker
    // mode without OIDC_PROXY): the proxy refuses nothing, the pages report it.
    return unchanged;
  }
  if (!core.config.browserSessions || core.config.brokerMode) return unchanged;
  try {
    await core.session(request);
  } catch {
    // The IdP or store is down: the page's own session() answers for it.
  }
  const setCookies = core.responseCookies(request);
  if (setCookies.length > 0) {
    requestHeaders.set("cookie", cookieHeaderWith(request.headers.get("cookie"), setCookies));
  }
  return { requestHeaders, setCookies };
}

/** `NextResponse.next()` carrying the outcome. */
export function continueWith(outcome: ProxyOutcome): NextResponse {
  const response = NextResponse.next({ request: { headers: outcome.requestHeaders } });
  for (const cookie of outcome.setCookies) response.headers.append("Set-Cookie", cookie);
  return response;
}

/** A Cookie header as the browser will send it once it applied `setCookies`. */
export function cookieHeaderWith(header: string | null, setCookies: readonly string[]): string {
  const pairs = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!pairs.has(name)) pairs.set(name, part.slice(eq + 1).trim());
  }
  for (const value of setCookies) {
    const cookie = parseSetCookie(value);
    if (cookie.maxAge > 0 && cookie.value !== "") pairs.set(cookie.name, cookie.value);
    else pairs.delete(cookie.name);
  }
  return [...pairs].map(([name, value]) => `${name}=${value}`).join("; ");
}
