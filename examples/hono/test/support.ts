import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
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
