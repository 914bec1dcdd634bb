import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp, IdpBrowser } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { OIDCAuthOptions } from "@oidc-auth/hono";
import { silentLogger } from "@oidc-auth/hono";
import { CompactSign, exportJWK, generateKeyPair } from "jose";
import type { TokenJson } from "../../../test-support/assertions.js";
import type { RunningServer } from "../src/server.js";
import { startServer } from "../src/server.js";

export type { TokenJson };

/** A dev IdP plus the Hono example wired to it, both on 127.0.0.1, ports picked freely. */
export interface Stack {
  idp: DevIdp;
  app: RunningServer;
  /** The app's base URL. */
  url: string;
  /** The example's callback page (the demo's redirect_uri). */
  redirectUri: string;
  close(): Promise<void>;
}

export const TEST_SECRET = "test-secret-test-secret-test-secret-0123";

export interface StackOptions {
  env?: Record<string, string>;
  options?: OIDCAuthOptions;
  /** Reuse a running IdP (it is then not stopped by close()). */
  idp?: DevIdp;
}

/** Starts the dev IdP and the example the way `pnpm demo` does, configured only by env. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const idp = opts.idp ?? (await startDevIdp());
  const client = idp.clients.find((c) => c.clientSecret) ?? idp.clients[0];
  const env: Record<string, string> = {
    PORT: "0",
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: client?.clientId ?? "",
    OIDC_CLIENT_SECRET: client?.clientSecret ?? "",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: TEST_SECRET,
    OIDC_ALLOW_LOOPBACK_REDIRECTS: "true",
    ...opts.env,
  };
  const app = await startServer(
    env,
    (url) => ({ OIDC_PROXY: url, OIDC_REDIRECT_URIS: `${url}/callback`, ...opts.env }),
    { logger: silentLogger, ...opts.options },
  );
  return {
    idp,
    app,
    url: app.url,
    redirectUri: `${app.url}/callback`,
    close: async () => {
      await app.close();
      if (!opts.idp) await idp.stop();
    },
  };
}

/** The first cookie of a Set-Cookie header, as a Cookie header value. */
export function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie");
  if (!header) throw new Error("no Set-Cookie in the response");
  return header.split(";")[0] as string;
}

/** Starts a browser login at the example: the IdP URL and this browser's transaction cookie. */
export async function startBrowserLogin(stack: Stack, query: Record<string, string> = {}) {
  const params = new URLSearchParams({ redirect_uri: stack.redirectUri, ...query });
  const response = await fetch(`${stack.url}/api/auth/v2/login?${params}`, { redirect: "manual" });
  if (response.status !== 302) {
    throw new Error(`login answered ${response.status}: ${await response.text()}`);
  }
  return {
    authorizationUrl: response.headers.get("location") as string,
    cookie: cookieOf(response),
  };
}

/** A whole browser login: login → IdP login page → callback; answers the callback response. */
export async function browserLogin(stack: Stack, username = "alice"): Promise<Response> {
  const user = stack.idp.users.find((u) => u.username === username);
  const { authorizationUrl, cookie } = await startBrowserLogin(stack);
  const redirect = await stack.idp.completeLogin(authorizationUrl, username, user?.password);
  return fetch(`${stack.url}/api/auth/v2/callback${redirect.search}`, { headers: { cookie } });
}

/** The token answer of a successful browser login. */
export async function loginTokens(stack: Stack, username = "alice"): Promise<TokenJson> {
  const response = await browserLogin(stack, username);
  if (response.status !== 200)
    throw new Error(`callback answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as TokenJson;
}

/** POSTs a form to the example's token endpoint. */
export function postToken(stack: Stack, form: Record<string, string>): Promise<Response> {
  return fetch(`${stack.url}/api/auth/v2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
}

/** GET with a bearer token. */
export function getWithToken(
  url: string,
  token: string | undefined,
  headers: Record<string, string> = {},
) {
  return fetch(url, {
    headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers },
  });
}

/**
 * An identity provider of the test's own on 127.0.0.1, for hostile inputs the dev IdP will
 * not produce: it serves a discovery document naming itself as issuer and a JWKS, both
 * replaceable while it runs, and signs whatever bytes it is given with its RS256 key.
 */
export interface OwnIssuer {
  issuer: string;
  discoveryUrl: string;
  /** The JWKS it serves at /jwks (its own public key unless replaced). */
  jwks: { keys: Record<string, unknown>[] };
  /** Extra or replaced members of the discovery document. */
  discovery: Record<string, unknown>;
  /** Requests per path. */
  hits: Map<string, number>;
  /** Signs `payload` (an object, or the exact payload bytes as text) with its key. */
  sign(
    payload: Record<string, unknown> | string,
    header?: Record<string, unknown>,
  ): Promise<string>;
  /** Claims of a valid access token for `audience`: sign them (changed) to test a rule. */
  claims(audience: string): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startOwnIssuer(): Promise<OwnIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const kid = "own-issuer-key";
  const hits = new Map<string, number>();
  const own: Partial<OwnIssuer> = {
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] },
    discovery: {},
    hits,
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    res.setHeader("content-type", "application/json");
    if (path === "/.well-known/openid-configuration") {
      res.end(
        JSON.stringify({
          issuer: own.issuer,
          jwks_uri: `${own.issuer}/jwks`,
          authorization_endpoint: `${own.issuer}/auth`,
          token_endpoint: `${own.issuer}/token`,
          ...own.discovery,
        }),
      );
    } else if (path === "/jwks") {
      res.end(JSON.stringify(own.jwks));
    } else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  own.issuer = `http://127.0.0.1:${port}`;
  own.discoveryUrl = `${own.issuer}/.well-known/openid-configuration`;
  own.sign = (payload, header = {}) =>
    new CompactSign(
      new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload)),
    )
      .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid, ...header })
      .sign(privateKey);
  own.claims = (audience) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: own.issuer,
      sub: "u-own",
      aud: audience,
      iat: now,
      exp: now + 300,
      scope: "openid profile email",
      client_id: "oidc-auth-demo",
    };
  };
  own.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return own as OwnIssuer;
}

/**
 * One HTTP request with exactly the headers given, as a browser would send them. (Node's
 * `fetch` sets `Sec-Fetch-Mode: cors` whatever the caller asks, so it cannot send a
 * navigation.) Redirects are not followed.
 */
export function rawRequest(
  url: URL,
  init: { method?: string; body?: string | URLSearchParams; headers?: Record<string, string> } = {},
): Promise<Response> {
  const body = init.body === undefined ? undefined : String(init.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: init.method ?? "GET",
        headers: {
          ...(body === undefined ? {} : { "content-length": Buffer.byteLength(body) }),
          ...init.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : [value ?? ""]) headers.append(name, v);
          }
          const status = res.statusCode ?? 0;
          const payload = [204, 304].includes(status) ? null : Buffer.concat(chunks);
          resolve(new Response(payload, { status, headers }));
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A browser of the app for HTTP-level session tests: keeps the app's cookies (as a browser
 * would, with their attributes), sends navigations as browsers do (`Sec-Fetch-Mode:
 * navigate`, HTML accepted) and follows nothing by itself.
 */
export class AppBrowser {
  /** name → the whole Set-Cookie line that set it. */
  readonly setCookies = new Map<string, string>();

  constructor(readonly stack: Stack) {}

  /** The Cookie header this browser sends. */
  cookieHeader(): string {
    return [...this.setCookies.values()].map((line) => line.split(";")[0]).join("; ");
  }

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const name = line.slice(0, line.indexOf("="));
      if (/;\s*Max-Age=0(;|$)/i.test(line)) this.setCookies.delete(name);
      else this.setCookies.set(name, line);
    }
  }

  async request(
    path: string,
    init: {
      method?: string;
      body?: string | URLSearchParams;
      headers?: Record<string, string>;
    } = {},
  ) {
    const cookie = this.cookieHeader();
    const response = await rawRequest(new URL(path, this.stack.url), {
      ...init,
      headers: { ...(cookie ? { cookie } : {}), ...init.headers },
    });
    this.store(response);
    return response;
  }

  /** A page navigation, as a browser sends it. */
  navigate(path: string): Promise<Response> {
    return this.request(path, {
      headers: { accept: "text/html", "sec-fetch-mode": "navigate", "sec-fetch-site": "none" },
    });
  }

  /** A form POST from the app's own page (`Origin` = the app). */
  postForm(path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    return this.request(path, {
      method: "POST",
      body: new URLSearchParams(form),
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: new URL(this.stack.url).origin,
        "sec-fetch-site": "same-origin",
        ...headers,
      },
    });
  }

  /**
   * Opens `path` without a session and signs in the way a person does: the page redirects to
   * the login, the login to the IdP, the IdP back to the callback, the callback to `path`.
   * Answers the final page.
   */
  async signIn(path = "/profile", username = "alice", idpBrowser?: IdpBrowser): Promise<Response> {
    const page = await this.navigate(path);
    if (page.status !== 303) throw new Error(`${path} answered ${page.status}, not a redirect`);
    const login = await this.navigate(page.headers.get("location") as string);
    if (login.status !== 302)
      throw new Error(`login answered ${login.status}: ${await login.text()}`);
    const user = this.stack.idp.users.find((u) => u.username === username);
    const back = await this.stack.idp.completeLogin(
      login.headers.get("location") as string,
      username,
      user?.password,
      idpBrowser ? { browser: idpBrowser } : undefined,
    );
    const callback = await this.navigate(`${back.pathname}${back.search}`);
    if (callback.status !== 303) {
      throw new Error(`callback answered ${callback.status}: ${await callback.text()}`);
    }
    return this.navigate(callback.headers.get("location") as string);
  }
}
