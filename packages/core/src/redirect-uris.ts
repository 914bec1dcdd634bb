import type { ResolvedConfig } from "./config.js";
import { badRequest } from "./errors.js";
import { appOrigin } from "./session-cookie.js";
import { isLoopbackHost } from "./transport.js";

/** Whitespace, control characters and backslashes: never part of a URI we accept. */
function hasUnsafeCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x5c || (c >= 0x80 && c <= 0x9f)) return true;
  }
  return /\s/.test(value);
}

/** Parses a caller-supplied absolute http(s) URI, refusing anything unusual. */
function parseCallerUri(value: string): URL | undefined {
  if (value.length > 2048 || hasUnsafeCharacter(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return undefined;
  // No fragment (RFC 6749 §3.1.2) and no userinfo, not even empty ones ("#", "@").
  const authority = value.slice(url.protocol.length + 2).split("/")[0] ?? "";
  if (value.includes("#") || authority.includes("@")) return undefined;
  return url;
}

/**
 * RFC 8252 §7.3 loopback redirect: http, a literal loopback host, any port — written in
 * canonical form (so `127.1`, `0x7f000001` or `2130706433` do not pass as 127.0.0.1).
 */
function isLoopbackRedirect(config: ResolvedConfig, url: URL, value: string): boolean {
  return (
    config.allowLoopbackRedirects &&
    url.protocol === "http:" &&
    isLoopbackHost(url.hostname) &&
    url.href === value
  );
}

/**
 * Checks a `redirect_uri` against the exact allow-list, or the loopback rule of RFC 8252
 * §7.3 when enabled (http, loopback host, any port). Returns the URI unchanged.
 */
export function checkRedirectUri(config: ResolvedConfig, value: string | undefined): string {
  if (!value) throw badRequest("invalid_request", "redirect_uri is required.");
  const url = parseCallerUri(value);
  if (url) {
    if (config.redirectUris.has(value)) return value;
    if (isLoopbackRedirect(config, url, value)) return value;
  }
  throw badRequest("invalid_request", "redirect_uri is not allowed.");
}

/**
 * Whether an absolute URI is a place of this app: the origin of `proxy` and a path under
 * its base path, written in canonical form. Such a target is where a relative path would
 * lead too, so it needs no allow-list entry (a page sends `location.origin + "/"`).
 */
function isProxyTarget(config: ResolvedConfig, url: URL, value: string): boolean {
  if (!config.proxy || url.href !== value) return false;
  const proxy = new URL(config.proxy);
  const base = proxy.pathname.endsWith("/") ? proxy.pathname : `${proxy.pathname}/`;
  return url.origin === proxy.origin && `${url.pathname}/`.startsWith(base);
}

/**
 * Checks a `post_logout_redirect_uri`: exact allow-list, same-origin targets of `proxy`
 * (relative paths resolved against it, or absolute URIs under its base path), or a loopback
 * URI when loopback redirects are enabled. Returns the absolute URI.
 */
export function checkPostLogoutRedirectUri(
  config: ResolvedConfig,
  value: string,
  request?: Request,
): string {
  // A relative path: against `proxy`, else (a browser's logout) the app's own origin.
  const base = config.proxy || (request ? appOrigin(config, request) : "");
  if (base && value.startsWith("/") && !value.startsWith("//")) {
    const url = parseCallerUri(`${base}${value}`);
    if (url && url.origin === new URL(base).origin) return url.href;
  }
  const url = parseCallerUri(value);
  if (url) {
    if (config.postLogoutRedirectUris.has(url.href) && url.href === value) return value;
    if (config.redirectUris.has(value)) return value;
    if (isProxyTarget(config, url, value)) return value;
    if (isLoopbackRedirect(config, url, value)) return value;
  }
  throw badRequest("invalid_request", "post_logout_redirect_uri is not allowed.");
}

/**
 * Where a browser-session login returns: a path on the app's own origin (`/profile?tab=2`),
 * or an absolute URL on that origin, answered as its path. Anything else (another origin,
 * `//host`, backslashes, control characters) is a 400: no open redirect. Default `/`.
 */
export function checkReturnTo(
  config: ResolvedConfig,
  request: Request,
  value: string | undefined,
): string {
  if (value === undefined || value === "") return "/";
  const origin = appOrigin(config, request);
  const absolute = value.startsWith("/") && !value.startsWith("//") ? `${origin}${value}` : value;
  const url = parseCallerUri(absolute);
  if (!url || url.origin !== origin || url.href !== new URL(absolute).href) {
    throw badRequest("invalid_request", "return_to must be a path of this app.");
  }
  return `${url.pathname}${url.search}`;
}
