import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { OIDCAuthOptions } from "@oidc-auth/hono";
import { silentLogger } from "@oidc-auth/hono";
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
