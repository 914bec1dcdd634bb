import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningExample } from "./start.js";
import { buildExample, startExample } from "./start.js";

const SECRET = "example-test-secret-example-test-secret";
/** The first start may run `vite build`. */
const START_TIMEOUT_MS = 240_000;

interface TokenJson {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

let idp: DevIdp;

/** The example's whole configuration, as the conformance suite passes it. */
function baseEnv(): Record<string, string> {
  return {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: "oidc-auth-demo",
    OIDC_CLIENT_SECRET: "oidc-auth-demo-secret",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: SECRET,
  };
}

/** A browser login: login → the IdP's login page → callback with the transaction cookie. */
async function login(app: RunningExample, username = "alice"): Promise<Response> {
  const query = new URLSearchParams({ redirect_uri: `${app.url}/callback` });
  const start = await fetch(`${app.url}/api/auth/v2/login?${query}`, { redirect: "manual" });
  expect(start.status).toBe(302);
  const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
  expect(cookie).toMatch(/^oidc_auth_tx=/);
  const location = start.headers.get("location") as string;
  const redirect = await idp.completeLogin(location, username, `${username}-password`);
  expect(redirect.origin + redirect.pathname).toBe(`${app.url}/callback`);
  return fetch(`${app.url}/api/auth/v2/callback${redirect.search}`, { headers: { cookie } });
}

async function loginTokens(app: RunningExample, username = "alice"): Promise<TokenJson> {
  const response = await login(app, username);
  expect(response.status).toBe(200);
  return (await response.json()) as TokenJson;
}

function get(app: RunningExample, path: string, token?: string): Promise<Response> {
  return fetch(`${app.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

/** A form POST as curl or a native client sends it: no Origin header. */
function postForm(app: RunningExample, path: string, fields: Record<string, string>, headers = {}) {
  return fetch(`${app.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
}

beforeAll(async () => {
  idp = await startDevIdp();
});

afterAll(async () => {
  await idp?.stop();
});

describe("the example in passthrough mode", () => {
  let app: RunningExample;
  let alice: TokenJson;

  beforeAll(async () => {
    app = await startExample(baseEnv());
    alice = await loginTokens(app);
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await app?.close();
  });

  it("answers the public route to anyone", async () => {
    const response = await get(app, "/api/public");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: expect.any(String) });
  });

  it("completes a code + PKCE login with a token answer", async () => {
    const response = await login(app);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const tokens = (await response.json()) as TokenJson;
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: "u-alice", iss: idp.issuer });
  });

  it("answers /api/me with the token's identity", async () => {
    const response = await get(app, "/api/me", alice.access_token);
    expect(response.status).toBe(200);
    const me = (await response.json()) as Record<string, unknown>;
    expect(me).toMatchObject({
      sub: "u-alice",
      preferred_username: "alice",
      email: "alice@example.org",
      scope: expect.stringContaining("email"),
      claims: expect.objectContaining({ sub: "u-alice", iss: idp.issuer }),
    });
    expect(me.roles).toEqual(expect.arrayContaining(["admin", "user", "/staff"]));
  });

  it("refuses /api/me without a token or with a broken one (401 + challenge)", async () => {
    const missing = await get(app, "/api/me");
    expect(missing.status).toBe(401);
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
    expect(await missing.json()).toMatchObject({ error: "invalid_token" });
    const broken = await get(app, "/api/me", `${alice.access_token}x`);
    expect(broken.status).toBe(401);
    expect(broken.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
  });

  it("lets only admins into /api/admin (403 for bob)", async () => {
    const bob = await idp.mintAccessToken("bob");
    const refused = await get(app, "/api/admin", bob);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: "access_denied" });
    const allowed = await get(app, "/api/admin", alice.access_token);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ message: expect.stringContaining("alice") });
  });

  it("checks the email scope and the staff claims", async () => {
    const noEmail = await idp.mintAccessToken("alice", { scope: "openid profile" });
    const refused = await get(app, "/api/email-scope", noEmail);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: "insufficient_scope" });
    const email = await get(app, "/api/email-scope", alice.access_token);
    expect(await email.json()).toEqual({ email: "alice@example.org" });
    const staff = await get(app, "/api/staff", alice.access_token);
    expect(await staff.json()).toEqual({ staff: true });
    expect((await get(app, "/api/staff", await idp.mintAccessToken("bob"))).status).toBe(403);
  });

  it("greets anonymous callers and named ones on /api/hello", async () => {
    expect(await (await get(app, "/api/hello")).json()).toEqual({ hello: "anonymous" });
    expect(await (await get(app, "/api/hello", "not-a-jwt")).json()).toEqual({
      hello: "anonymous",
    });
    expect(await (await get(app, "/api/hello", alice.access_token)).json()).toEqual({
      hello: "alice",
    });
  });

  it("refreshes with a form POST without an Origin header", async () => {
    const tokens = await loginTokens(app);
    const response = await postForm(app, "/api/auth/v2/token", {
      grant_type: "refresh_token",
      "refresh-token": tokens.refresh_token as string,
    });
    expect(response.status).toBe(200);
    const refreshed = (await response.json()) as TokenJson;
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect((await get(app, "/api/me", refreshed.access_token)).status).toBe(200);
  });

  it("starts a device login with a form POST, with or without an Origin", async () => {
    for (const headers of [{}, { origin: "https://elsewhere.example" }]) {
      const response = await postForm(app, "/api/auth/v2/device", {}, headers);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        device_code: expect.any(String),
        user_code: expect.any(String),
      });
    }
  });

  it("keeps refusing cross-site form posts to the app's own routes", async () => {
    const response = await postForm(app, "/profile", { name: "x" });
    expect(response.status).toBe(403);
    expect(await response.text()).toBe("Cross-site POST form submissions are forbidden");
  });

  it("refuses the /profile page's load without a token, and renders it with one", async () => {
    const refused = await get(app, "/profile");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toMatch(/^text\/html/);
    const invalid = await get(app, "/profile", "x.y.z");
    expect(invalid.status).toBe(401);
    const page = await get(app, "/profile", alice.access_token);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Profile of alice");
  });

  it("serves the / page, and no /callback page (logins end at /api/auth/v2/callback)", async () => {
    const home = await get(app, "/");
    expect(home.status).toBe(200);
    const html = await home.text();
    expect(html).toContain("oidc-auth SvelteKit example");
    expect(html).toContain('href="/api/auth/v2/login?return_to=%2Fprofile"');
    expect((await get(app, "/callback")).status).toBe(404);
  });
});

describe("the example in broker mode", () => {
  it("logs in with a broker token that /api/me accepts (memory store)", async () => {
    const app = await startExample({
      ...baseEnv(),
      OIDC_BROKER_MODE: "true",
      OIDC_BROKER_STORE_URL: "memory://",
    });
    try {
      const tokens = await loginTokens(app);
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe("at+jwt");
      expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: app.url, sub: "u-alice" });
      const me = await get(app, "/api/me", tokens.access_token);
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ sub: "u-alice", preferred_username: "alice" });
      const idpToken = await idp.mintAccessToken("alice");
      expect((await get(app, "/api/me", idpToken)).status).toBe(401);
      const jwks = await get(app, "/api/auth/v2/.well-known/jwks.json");
      expect(((await jwks.json()) as { keys: unknown[] }).keys).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it("keeps sessions in the embedded PGlite store when no store URL is set", async () => {
    const app = await startExample({ ...baseEnv(), OIDC_BROKER_MODE: "true" });
    try {
      // The embedded store opens on first use; its WebAssembly start can hold the server's
      // event loop for seconds, past Node's 5 s keep-alive timeout, and a request sent on a
      // pooled connection the server is closing then meets ECONNRESET. Opened first (the
      // JWKS needs the store), as a readiness probe would.
      const jwks = await get(app, "/api/auth/v2/.well-known/jwks.json");
      expect(jwks.status).toBe(200);
      const tokens = await loginTokens(app, "bob");
      expect((await get(app, "/api/me", tokens.access_token)).status).toBe(200);
      const response = await postForm(app, "/api/auth/v2/token", {
        "refresh-token": tokens.refresh_token as string,
      });
      expect(response.status).toBe(200);
      const refreshed = (await response.json()) as TokenJson;
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      expect(await (await get(app, "/api/hello", refreshed.access_token)).json()).toEqual({
        hello: "bob",
      });
    } finally {
      await app.close();
    }
  });
});

describe("node build", () => {
  it(
    "listens on 127.0.0.1 when HOST is unset",
    async () => {
      await buildExample();
      const child = spawn(process.execPath, ["build"], {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        // the least configuration the server starts with: the IdP (no discoveryUrl is a startup error)
        env: { PATH: process.env.PATH ?? "", PORT: "0", OIDC_DISCOVERY_URL: idp.discoveryUrl },
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        const line = await new Promise<string>((resolve, reject) => {
          child.stdout.on("data", (chunk: Buffer) => {
            const match = /Listening on (\S+)/.exec(chunk.toString());
            if (match) resolve(match[1] as string);
          });
          child.once("exit", (code) => reject(new Error(`node build exited (${code})`)));
        });
        expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      } finally {
        child.kill("SIGTERM");
      }
    },
    START_TIMEOUT_MS,
  );
});
