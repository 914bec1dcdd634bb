import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKER, idpEnv as exampleEnv } from "./env.js";
import type { RunningExample } from "./start.js";
import { ensureBuilt, startExample } from "./start.js";

let idp: DevIdp;

const idpEnv = (extra?: Record<string, string>) => exampleEnv(idp, extra);

interface TokenJson {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/** A browser's code + PKCE login at the example: login → IdP login page → callback. */
async function login(app: RunningExample, username = "alice"): Promise<TokenJson> {
  const query = new URLSearchParams({ redirect_uri: `${app.url}/callback` });
  const start = await fetch(`${app.url}/api/auth/v2/login?${query}`, { redirect: "manual" });
  expect(start.status).toBe(302);
  const location = start.headers.get("location") as string;
  expect(location.startsWith(`${idp.issuer}/`)).toBe(true);
  const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
  expect(cookie).toMatch(/^oidc_auth_tx=/);
  const redirect = await idp.completeLogin(location, username, `${username}-password`);
  expect(`${redirect.origin}${redirect.pathname}`).toBe(`${app.url}/callback`);
  const callback = await fetch(`${app.url}/api/auth/v2/callback${redirect.search}`, {
    headers: { cookie },
  });
  expect(callback.status, await callback.clone().text()).toBe(200);
  expect(callback.headers.get("cache-control")).toBe("no-store");
  return (await callback.json()) as TokenJson;
}

function get(app: RunningExample, path: string, token?: string): Promise<Response> {
  return fetch(`${app.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

async function expectError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(((await response.json()) as { error: string }).error).toBe(error);
}

beforeAll(async () => {
  // The one `next build` of the run (skipped when .next is newer than the sources).
  await Promise.all([ensureBuilt(), startDevIdp().then((started) => (idp = started))]);
}, 300_000);

afterAll(async () => {
  await idp?.stop();
});

describe("the Next.js example in passthrough mode", () => {
  let app: RunningExample;
  let alice: TokenJson;
  let bob: string;

  beforeAll(async () => {
    app = await startExample(idpEnv());
    alice = await login(app);
    bob = await idp.mintAccessToken("bob");
  });

  afterAll(async () => {
    await app?.close();
  });

  it("serves the public route and the home page", async () => {
    const response = await get(app, "/api/public");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: expect.any(String) });
    const page = await get(app, "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain('href="/profile"');
  });

  it("answers a code + PKCE login with the IdP's tokens", () => {
    expect(alice.token_type).toBe("Bearer");
    expect(alice.access_token.split(".")).toHaveLength(3);
    expect(alice.expires_in).toBeGreaterThan(0);
    expect(alice.refresh_token).toEqual(expect.any(String));
  });

  it("lets the login's token through /api/me", async () => {
    const response = await get(app, "/api/me", alice.access_token);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      sub: "u-alice",
      preferred_username: "alice",
      email: "alice@example.org",
      roles: expect.arrayContaining(["admin", "/staff"]),
      scope: expect.stringContaining("email"),
      claims: expect.objectContaining({ iss: idp.issuer, sub: "u-alice" }),
    });
  });

  it("refuses /api/me without a token, with a Bearer challenge", async () => {
    const response = await get(app, "/api/me");
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
    await expectError(response, 401, "invalid_token");
    await expectError(await get(app, "/api/me", "not-a-jwt"), 401, "invalid_token");
  });

  it("enforces the claim constraints of /api/admin and /api/staff", async () => {
    expect((await get(app, "/api/admin", alice.access_token)).status).toBe(200);
    const admin = await get(app, "/api/admin", bob);
    expect(admin.headers.get("www-authenticate")).toMatch(/insufficient_scope/);
    await expectError(admin, 403, "access_denied");
    expect(await (await get(app, "/api/staff", alice.access_token)).json()).toEqual({
      staff: true,
    });
    await expectError(await get(app, "/api/staff", bob), 403, "access_denied");
  });

  it("enforces the scope of /api/email-scope", async () => {
    const response = await get(app, "/api/email-scope", alice.access_token);
    expect(await response.json()).toEqual({ email: "alice@example.org" });
    const noEmail = await idp.mintAccessToken("alice", { scope: "openid profile" });
    await expectError(await get(app, "/api/email-scope", noEmail), 403, "insufficient_scope");
  });

  it("greets anonymous and logged-in callers of the optional /api/hello", async () => {
    expect(await (await get(app, "/api/hello")).json()).toEqual({ hello: "anonymous" });
    expect(await (await get(app, "/api/hello", "garbage")).json()).toEqual({
      hello: "anonymous",
    });
    expect(await (await get(app, "/api/hello", bob)).json()).toEqual({ hello: "bob" });
  });

  it("verifies tokens on the edge runtime route", async () => {
    const response = await get(app, "/api/edge/me", alice.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "u-alice", runtime: "edge" });
    await expectError(await get(app, "/api/edge/me"), 401, "invalid_token");
    const expired = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: "u-alice",
      iat: 1,
      exp: 2,
      scope: "openid",
    });
    await expectError(await get(app, "/api/edge/me", expired), 401, "invalid_token");
    await expectError(await get(app, "/api/edge/me", `${bob}x`), 401, "invalid_token");
  });

  it("serves the other endpoints through the catch-all route", async () => {
    const userinfo = await get(app, "/api/auth/v2/userinfo", alice.access_token);
    expect(await userinfo.json()).toMatchObject({ username: "alice", email: "alice@example.org" });
    const refresh = await fetch(`${app.url}/api/auth/v2/token`, {
      method: "POST",
      body: new URLSearchParams({ "refresh-token": alice.refresh_token as string }),
    });
    expect(refresh.status).toBe(200);
    expect(((await refresh.json()) as TokenJson).access_token).toEqual(expect.any(String));
    await expectError(await get(app, "/api/auth/v2/nope"), 404, "not_found");
    await expectError(await get(app, "/api/auth/v2/token"), 405, "invalid_request");
  });
});

describe("the Next.js example in broker mode on memory://", () => {
  let app: RunningExample;
  let broker: TokenJson;

  beforeAll(async () => {
    app = await startExample(idpEnv({ ...BROKER, OIDC_BROKER_STORE_URL: "memory://" }));
    broker = await login(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it("answers a login with a broker token accepted by /api/me", async () => {
    const response = await get(app, "/api/me", broker.access_token);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { sub: string; claims: { iss: string } };
    expect(body.sub).toBe("u-alice");
    expect(body.claims.iss).toBe(app.url);
  });

  it("accepts the broker token on the edge runtime route", async () => {
    const response = await get(app, "/api/edge/me", broker.access_token);
    expect(response.status, app.output()).toBe(200);
    expect(await response.json()).toEqual({ sub: "u-alice", runtime: "edge" });
  });

  it("refuses IdP tokens on both runtimes", async () => {
    const idpToken = await idp.mintAccessToken("alice");
    await expectError(await get(app, "/api/me", idpToken), 401, "invalid_token");
    await expectError(await get(app, "/api/edge/me", idpToken), 401, "invalid_token");
  });

  it("publishes its keys at the catch-all route", async () => {
    const response = await get(app, "/api/auth/v2/.well-known/jwks.json");
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: { kid: string }[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
  });
});

describe("the Next.js example in broker mode on the embedded store", () => {
  let app: RunningExample;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "oidc-next-"));
    app = await startExample(idpEnv({ ...BROKER, OIDC_DATA_DIR: dataDir }));
  });

  afterAll(async () => {
    await app?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("keeps sessions in PGlite through @oidc-auth/drizzle on the Node.js runtime", async () => {
    const broker = await login(app);
    const me = await get(app, "/api/me", broker.access_token);
    expect(me.status, app.output()).toBe(200);
    const refresh = await fetch(`${app.url}/api/auth/v2/token`, {
      method: "POST",
      body: new URLSearchParams({ "refresh-token": broker.refresh_token as string }),
    });
    expect(refresh.status, app.output()).toBe(200);
    expect(await readdir(join(dataDir, "oidc-auth", "broker"))).toContain("PG_VERSION");
  });
});
