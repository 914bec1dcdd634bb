import type { ResolvedConfig } from "./config.js";
import { isLoopbackHost } from "./transport.js";

/** Longest value one cookie carries; a longer session is split across numbered cookies. */
const CHUNK = 3800;
/** At most this many chunks are read or written (a bound on what a request can make us parse). */
const MAX_CHUNKS = 8;

/** `name=value` pairs of a Cookie header (the first of a name wins). */
function cookiePairs(header: string | null): Map<string, string> {
  const pairs = new Map<string, string>();
  if (!header) return pairs;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!pairs.has(name)) pairs.set(name, part.slice(eq + 1).trim());
  }
  return pairs;
}

/** `host[:port]` or `[ipv6][:port]`: a Host header that can stand in an origin. */
const HOST_HEADER = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/**
 * The app's origin as browsers see it: that of `proxy` when configured (the app's public
 * URL); else the request's scheme with the host the browser addressed (its `Host` header:
 * frameworks may build `request.url` on another name, Next.js on `localhost`). Same-origin
 * checks, the session cookie's name and the session login's callback URL use it. Behind
 * a TLS proxy the request's scheme is http: set `proxy` there.
 */
export function appOrigin(config: ResolvedConfig, request: Request): string {
  if (config.proxy) return new URL(config.proxy).origin;
  const url = new URL(request.url);
  const host = request.headers.get("host")?.toLowerCase();
  return host && HOST_HEADER.test(host) ? `${url.protocol}//${host}` : url.origin;
}

/**
 * The session cookie(s) of this app. Over anything but plain http on a loopback host the
 * cookie is `Secure` and carries the `__Host-` prefix (browsers then accept it only from a
 * secure origin, with `Path=/` and no `Domain`, so a sibling subdomain cannot plant one).
 * Always `HttpOnly` (page JavaScript never reads it) and `SameSite=Lax` (cross-site
 * subrequests and POSTs do not carry it). A value longer than one cookie holds is split
 * into `<name>.0`, `<name>.1`, …
 */
export class SessionCookie {
  readonly #config: ResolvedConfig;

  constructor(config: ResolvedConfig) {
    this.#config = config;
  }

  #secure(request: Request): boolean {
    const origin = new URL(appOrigin(this.#config, request));
    return !(origin.protocol === "http:" && isLoopbackHost(origin.hostname));
  }

  /** The cookie name for this request's app origin. */
  name(request: Request): string {
    const base = this.#config.sessionCookieName;
    return this.#secure(request) ? `__Host-${base}` : base;
  }

  /** Whether the request carries the session cookie (whole or in chunks). */
  present(request: Request): boolean {
    const name = this.name(request);
    const pairs = cookiePairs(request.headers.get("cookie"));
    return pairs.has(name) || pairs.has(`${name}.0`);
  }

  /** The cookie's value, its chunks joined; undefined without one or with a broken chain. */
  read(request: Request): string | undefined {
    const name = this.name(request);
    const pairs = cookiePairs(request.headers.get("cookie"));
    const whole = pairs.get(name);
    if (whole !== undefined) return whole || undefined;
    let value = "";
    for (let i = 0; i < MAX_CHUNKS; i++) {
      const chunk = pairs.get(`${name}.${i}`);
      if (chunk === undefined) return value || undefined;
      value += chunk;
    }
    return undefined;
  }

  /**
   * Set-Cookie values that store `value` for `maxAgeSec`, and remove whatever other form
   * (whole or chunks) the request carried.
   */
  write(request: Request, value: string, maxAgeSec: number): string[] {
    const name = this.name(request);
    const attributes = this.#attributes(request, Math.max(0, Math.floor(maxAgeSec)));
    const written = new Set<string>();
    const headers: string[] = [];
    if (value.length <= CHUNK) {
      written.add(name);
      headers.push(`${name}=${value}; ${attributes}`);
    } else {
      const count = Math.ceil(value.length / CHUNK);
      if (count > MAX_CHUNKS) throw new Error("the session is too large for its cookies");
      for (let i = 0; i < count; i++) {
        written.add(`${name}.${i}`);
        headers.push(`${name}.${i}=${value.slice(i * CHUNK, (i + 1) * CHUNK)}; ${attributes}`);
      }
    }
    for (const stale of this.#carried(request)) {
      if (!written.has(stale)) headers.push(this.#removal(request, stale));
    }
    return headers;
  }

  /** Set-Cookie values that remove every form of the session cookie the request carries. */
  clear(request: Request): string[] {
    const carried = this.#carried(request);
    if (carried.length === 0) carried.push(this.name(request));
    return carried.map((name) => this.#removal(request, name));
  }

  #carried(request: Request): string[] {
    const name = this.name(request);
    return [...cookiePairs(request.headers.get("cookie")).keys()].filter(
      (n) => n === name || (n.startsWith(`${name}.`) && /^\d$/.test(n.slice(name.length + 1))),
    );
  }

  #removal(request: Request, name: string): string {
    return `${name}=; ${this.#attributes(request, 0)}`;
  }

  #attributes(request: Request, maxAgeSec: number): string {
    return `Path=/; Max-Age=${maxAgeSec}; HttpOnly; SameSite=Lax${this.#secure(request) ? "; Secure" : ""}`;
  }
}

/** One Set-Cookie value taken apart, for frameworks that set cookies through their own API. */
export interface ParsedSetCookie {
  name: string;
  value: string;
  path: string;
  maxAge: number;
  httpOnly: boolean;
  secure: boolean;
  sameSite: "lax" | "strict" | "none";
}

/**
 * Parses a Set-Cookie value that oidc-auth produced (see {@link OIDCAuth.responseCookies})
 * into the fields that Next.js' `cookies().set()` or SvelteKit's `cookies.set()` take.
 */
export function parseSetCookie(header: string): ParsedSetCookie {
  const [pair = "", ...attributes] = header.split(";").map((s) => s.trim());
  const eq = pair.indexOf("=");
  const parsed: ParsedSetCookie = {
    name: pair.slice(0, eq),
    value: pair.slice(eq + 1),
    path: "/",
    maxAge: 0,
    httpOnly: false,
    secure: false,
    sameSite: "lax",
  };
  for (const attribute of attributes) {
    const [key = "", val = ""] = attribute.split("=");
    switch (key.toLowerCase()) {
      case "path":
        parsed.path = val;
        break;
      case "max-age":
        parsed.maxAge = Number(val);
        break;
      case "httponly":
        parsed.httpOnly = true;
        break;
      case "secure":
        parsed.secure = true;
        break;
      case "samesite":
        parsed.sameSite = val.toLowerCase() as ParsedSetCookie["sameSite"];
        break;
    }
  }
  return parsed;
}

/**
 * The response with the Set-Cookie values it lacks appended, one header each (adapters
 * pass {@link OIDCAuth.responseCookies}). A response whose headers are immutable
 * (`Response.redirect()`, a `fetch()` answer passed on) is copied first.
 */
export function withSetCookies(response: Response, cookies: readonly string[]): Response {
  if (cookies.length === 0) return response;
  const present = new Set(response.headers.getSetCookie());
  const missing = cookies.filter((cookie) => !present.has(cookie));
  if (missing.length === 0) return response;
  let target = response;
  try {
    target.headers.append("Set-Cookie", missing[0] as string);
  } catch {
    target = new Response(response.body, response);
    target.headers.append("Set-Cookie", missing[0] as string);
  }
  for (const cookie of missing.slice(1)) target.headers.append("Set-Cookie", cookie);
  return target;
}
