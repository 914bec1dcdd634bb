/**
 * Browser sessions over HTTP through the Hono example (issue 15): the session login, the
 * cookie's attributes, the page guard, renewal at the IdP, the same-origin rule for unsafe
 * methods, logout, and cookies that must count for nothing (tampered, foreign, expired).
 * Both modes: passthrough (sealed tokens in the cookie) and broker (an id in the cookie).
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { DEMO_CLIENTS, DEMO_USERS, startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Stack } from "./support.js";
import { AppBrowser, rawRequest, startStack } from "./support.js";

/** Short enough that a test sees the session renewed (renewal starts 15 s before expiry). */
const ACCESS_TOKEN_TTL = 20;
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

const MODES = [
  { mode: "passthrough", env: {} },
  { mode: "broker", env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" } },
] as const;

let idp: DevIdp;
beforeAll(async () => {
  idp = await startDevIdp({ accessTokenTtlSec: ACCESS_TOKEN_TTL });
});
afterAll(async () => {
  await idp?.stop();
});

describe.each(MODES)("browser sessions ($mode)", ({ mode, env }) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ idp, env: { OIDC_OFFLINE_ACCESS: "true", ...env } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends a navigation without a session through the login and back to the page", async () => {
    const browser = new AppBrowser(stack);
    const page = await browser.navigate("/profile?tab=roles");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe(
      "/api/auth/v2/login?return_to=%2Fprofile%3Ftab%3Droles",
    );
    const login = await browser.navigate(page.headers.get("location") as string);
    expect(login.status).toBe(302);
    const authorization = new URL(login.headers.get("location") as string);
    expect(authorization.origin).toBe(new URL(idp.issuer).origin);
    // The IdP returns to the app's own callback, not to a page of the caller's choosing.
    expect(authorization.searchParams.get("redirect_uri")).toBe(
      `${stack.url}/api/auth/v2/callback`,
    );
    const user = idp.users.find((u) => u.username === "alice");
    const back = await idp.completeLogin(authorization.href, "alice", user?.password);
    const callback = await browser.navigate(`${back.pathname}${back.search}`);
    expect(callback.status).toBe(303);
    expect(callback.headers.get("location")).toBe("/profile?tab=roles");
    const profile = await browser.navigate("/profile?tab=roles");
    expect(profile.status).toBe(200);
    const html = await profile.text();
    expect(html).toContain('<strong id="username">alice</strong>');
    expect(html).not.toMatch(JWT);
  });

  it("sets an HttpOnly, SameSite=Lax, host-only cookie holding no token", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const [line, ...others] = [...browser.setCookies.values()];
    expect(others).toEqual([]);
    expect(line).toMatch(/^oidc_auth_session=/);
    expect(line).toContain("HttpOnly");
    expect(line).toContain("SameSite=Lax");
    expect(line).toContain("Path=/");
    expect(line).not.toMatch(/Domain=/i);
    // Plain http on a loopback host: no Secure (the browser would drop it), no __Host-.
    expect(line).not.toContain("Secure");
    // Sealed (JWE): no token, not even a readable claim.
    const value = (line as string).split(";")[0]?.split("=")[1] as string;
    expect(value.split(".")).toHaveLength(5);
    expect(value).not.toMatch(JWT);
  });

  it("answers API calls without credentials with 401 JSON, never a redirect", async () => {
    const browser = new AppBrowser(stack);
    const api = await browser.request("/profile", { headers: { accept: "application/json" } });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: string }).error).toBe("invalid_token");
    const me = await browser.navigate("/api/me");
    expect(me.status).toBe(401);
  });

  it("authenticates the API routes by the cookie too, and by a bearer token alone when one is sent", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const me = await browser.request("/api/me");
    expect(me.status).toBe(200);
    expect(((await me.json()) as { preferred_username: string }).preferred_username).toBe("alice");
    // An Authorization header decides alone: a bad bearer token is not rescued by the cookie.
    const bad = await browser.request("/api/me", { headers: { authorization: "Bearer nope" } });
    expect(bad.status).toBe(401);
  });

  it("stays signed in across reloads and past the access token's lifetime (renewed on the server)", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const before = browser.cookieHeader();
    expect((await browser.navigate("/profile")).status).toBe(200);
    // Past the renewal point (15 s before expiry) and past the expiry itself.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + (ACCESS_TOKEN_TTL + 5) * 1000 });
    const later = await browser.navigate("/profile");
    expect(later.status).toBe(200);
    expect(await later.text()).toContain('<strong id="username">alice</strong>');
    if (mode === "passthrough") {
      // New IdP tokens, sealed into a new cookie.
      expect(browser.cookieHeader()).not.toBe(before);
    } else {
      // The session lives in the store: the cookie never changes, the store's session does.
      expect(browser.cookieHeader()).toBe(before);
      const me = (await (await browser.request("/api/me")).json()) as { claims: { sid: string } };
      const session = await (await stack.app.auth.brokerStore()).getSession(me.claims.sid);
      expect(session?.idpAccessExpiresAt).toBeGreaterThan(
        Math.floor(Date.now() / 1000) + ACCESS_TOKEN_TTL - 5,
      );
    }
    expect((await browser.navigate("/profile")).status).toBe(200);
  });

  it("stays signed in through renewal after renewal, a minute apart or less", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const start = Date.now();
    // Each step is past the renewed access token's lifetime and the clock tolerance (30 s),
    // yet within the minute that a replaced cookie's successor is kept: the renewed cookie
    // must be renewed in its turn, whether or not the IdP rotated its refresh token.
    const step = (ACCESS_TOKEN_TTL + 31) * 1000;
    for (let round = 1; round <= 3; round++) {
      vi.useFakeTimers({ toFake: ["Date"], now: start + round * step });
      const page = await browser.navigate("/profile");
      expect(page.status, `round ${round}`).toBe(200);
    }
  });

  it("refuses a cross-site POST carrying the cookie, and takes the app's own", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const evil = await browser.postForm(
      "/profile/hello",
      {},
      {
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      },
    );
    expect(evil.status).toBe(403);
    expect(((await evil.json()) as { error: string }).error).toBe("invalid_request");
    // No Sec-Fetch-Site (an older browser): the Origin decides.
    const oldBrowser = await browser.request("/profile/hello", {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "",
    });
    expect(oldBrowser.status).toBe(403);
    // Neither header: only the session's CSRF token lets it through.
    const bare = await browser.request("/profile/hello", { method: "POST" });
    expect(bare.status).toBe(403);
    const page = await (await browser.navigate("/profile")).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] as string;
    const withToken = await browser.request("/profile/hello", {
      method: "POST",
      headers: { "x-csrf-token": csrf },
    });
    expect(withToken.status).toBe(200);
    const own = await browser.postForm("/profile/hello", { csrf_token: csrf });
    expect(own.status).toBe(200);
    expect(await own.text()).toContain("Hello, alice!");
  });

  it("logs out with the page's form: the session ends and the IdP's end_session follows", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const cookie = browser.cookieHeader();
    const page = await (await browser.navigate("/profile")).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] as string;
    // From another site: refused, the session stays.
    const evil = await browser.request("/api/auth/v2/logout", {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "post_logout_redirect_uri=%2F",
    });
    expect(evil.status).toBe(403);
    expect((await browser.navigate("/profile")).status).toBe(200);

    const logout = await browser.postForm("/api/auth/v2/logout", {
      csrf_token: csrf,
      post_logout_redirect_uri: "/",
    });
    expect(logout.status).toBe(303);
    const endSession = new URL(logout.headers.get("location") as string);
    expect(endSession.origin).toBe(new URL(idp.issuer).origin);
    expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${stack.url}/`);
    expect(browser.setCookies.size).toBe(0);
    expect((await browser.navigate("/profile")).status).toBe(303);
    // The old cookie, replayed: in broker mode the session is gone from the store.
    if (mode === "broker") {
      const replay = await fetch(`${stack.url}/api/me`, { headers: { cookie } });
      expect(replay.status).toBe(401);
    }
  });

  it("counts a tampered, truncated or foreign cookie as no session, never a 500, and clears it", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const cookie = browser.cookieHeader();
    const value = cookie.slice(cookie.indexOf("=") + 1);
    const flipped = `${value.slice(0, 40)}${value[40] === "A" ? "B" : "A"}${value.slice(41)}`;
    for (const bad of [flipped, value.slice(0, -10), "garbage", "a.b.c.d.e", "%00%ff", ""]) {
      const api = await fetch(`${stack.url}/api/me`, {
        headers: { cookie: `oidc_auth_session=${bad}` },
      });
      expect(api.status).toBe(401);
      const page = await rawRequest(new URL("/profile", stack.url), {
        headers: { cookie: `oidc_auth_session=${bad}`, "sec-fetch-mode": "navigate" },
      });
      expect(page.status).toBe(303);
      if (bad !== "") {
        expect(page.headers.getSetCookie().join()).toMatch(/^oidc_auth_session=; .*Max-Age=0/);
      }
    }
  });

  it("ends the session when it reaches its lifetime (an expired cookie is no session)", async () => {
    const browser = new AppBrowser(stack);
    await browser.signIn();
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 31 * 86400 * 1000 });
    const page = await browser.navigate("/profile");
    expect(page.status).toBe(303);
    expect(browser.setCookies.size).toBe(0);
  });
});

describe("a cookie from one app on another", () => {
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    a = await startStack({ idp });
    b = await startStack({ idp, env: { OIDC_SECRET: "another-secret-another-secret-0123456" } });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it("does not work: the cookie is sealed with the app's secret", async () => {
    const browser = new AppBrowser(a);
    await browser.signIn();
    const cookie = browser.cookieHeader();
    expect((await fetch(`${a.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    const foreign = await fetch(`${b.url}/api/me`, { headers: { cookie } });
    expect(foreign.status).toBe(401);
  });
});

describe("browser sessions switched off", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ idp, env: { OIDC_BROWSER_SESSIONS: "false" } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("asks for redirect_uri as before and ignores session cookies", async () => {
    const login = await fetch(`${stack.url}/api/auth/v2/login?return_to=%2F`, {
      redirect: "manual",
    });
    expect(login.status).toBe(400);
    const page = await fetch(`${stack.url}/profile`, {
      redirect: "manual",
      headers: { cookie: "oidc_auth_session=x.y.z.w.v", accept: "application/json" },
    });
    expect(page.status).toBe(401);
  });
});

describe("return_to", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ idp });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it.each([
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "http://127.0.0.1:1/elsewhere",
    "/path\nwith-newline",
    "javascript:alert(1)",
  ])("refuses %j: no open redirect", async (target) => {
    const login = await fetch(
      `${stack.url}/api/auth/v2/login?${new URLSearchParams({ return_to: target })}`,
      { redirect: "manual" },
    );
    expect(login.status).toBe(400);
    expect(((await login.json()) as { error: string }).error).toBe("invalid_request");
  });

  it("accepts an absolute URL of the app itself, kept as its path", async () => {
    const browser = new AppBrowser(stack);
    const login = await browser.navigate(
      `/api/auth/v2/login?${new URLSearchParams({ return_to: `${stack.url}/profile?x=1` })}`,
    );
    expect(login.status).toBe(302);
    const user = idp.users.find((u) => u.username === "alice");
    const back = await idp.completeLogin(
      login.headers.get("location") as string,
      "alice",
      user?.password,
    );
    const callback = await browser.navigate(`${back.pathname}${back.search}`);
    expect(callback.headers.get("location")).toBe("/profile?x=1");
  });
});

describe("a session larger than one cookie (passthrough, a user in 120 groups)", () => {
  let bigIdp: DevIdp;
  let stack: Stack;
  beforeAll(async () => {
    const groups = Array.from({ length: 120 }, (_, i) => `/department-${i}/team-${i * 7}`);
    bigIdp = await startDevIdp({
      accessTokenTtlSec: ACCESS_TOKEN_TTL,
      users: [
        ...DEMO_USERS,
        {
          sub: "u-carol",
          username: "carol",
          password: "carol-password",
          givenName: "Carol",
          familyName: "Many-Groups",
          email: "carol@example.org",
          realmRoles: ["user"],
          clientRoles: {},
          groups,
        },
      ],
    });
    stack = await startStack({ idp: bigIdp, env: { OIDC_OFFLINE_ACCESS: "true" } });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await stack?.close();
    await bigIdp?.stop();
  });

  it("splits it across numbered cookies, each under 4 KB, rewrites them on renewal and clears them all on logout", async () => {
    const browser = new AppBrowser(stack);
    const page = await browser.signIn("/profile", "carol");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/department-119/team-833");
    const names = () => [...browser.setCookies.keys()].sort();
    const chunks = names();
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks).toEqual(chunks.map((_, i) => `oidc_auth_session.${i}`));
    for (const line of browser.setCookies.values()) {
      expect(line.split(";")[0]?.length).toBeLessThan(4000);
      expect(line).toContain("HttpOnly");
    }
    const before = browser.cookieHeader();
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + (ACCESS_TOKEN_TTL + 5) * 1000 });
    expect((await browser.navigate("/profile")).status).toBe(200);
    expect(browser.cookieHeader()).not.toBe(before);
    expect(names()).toEqual(chunks);
    vi.useRealTimers();

    // A missing chunk is no session, never a 500.
    const [first] = browser.cookieHeader().split("; ");
    const broken = await fetch(`${stack.url}/api/me`, { headers: { cookie: first as string } });
    expect(broken.status).toBe(401);

    const csrf = /name="csrf_token" value="([^"]+)"/.exec(
      await (await browser.navigate("/profile")).text(),
    )?.[1] as string;
    const logout = await browser.postForm("/api/auth/v2/logout", { csrf_token: csrf });
    expect(logout.status).toBe(303);
    const cleared = logout.headers.getSetCookie().map((c) => c.slice(0, c.indexOf("=")));
    expect(cleared.sort()).toEqual(chunks);
    expect(browser.setCookies.size).toBe(0);
  });
});

describe("logs of browser sessions", () => {
  const lines: string[] = [];
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  };
  const logger = {
    debug: record("debug"),
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  };
  const stacks: Stack[] = [];
  afterAll(async () => {
    vi.useRealTimers();
    for (const stack of stacks) await stack.close();
  });

  it.each(MODES)("hold no token, cookie or CSRF token ($mode)", async ({ env }) => {
    const stack = await startStack({
      idp,
      env: { OIDC_OFFLINE_ACCESS: "true", ...env },
      options: { logger },
    });
    stacks.push(stack);
    const browser = new AppBrowser(stack);
    await browser.signIn();
    const cookie = browser.cookieHeader();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(
      await (await browser.navigate("/profile")).text(),
    )?.[1] as string;
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + (ACCESS_TOKEN_TTL + 5) * 1000 });
    await browser.navigate("/profile");
    vi.useRealTimers();
    await fetch(`${stack.url}/api/me`, { headers: { cookie: `${cookie}x` } });
    await browser.postForm(
      "/profile/hello",
      {},
      { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
    );
    await browser.postForm("/api/auth/v2/logout", { csrf_token: csrf });
    expect(lines.length).toBeGreaterThan(0);
    const all = lines.join("\n");
    expect(all).not.toMatch(JWT);
    expect(all).not.toContain(cookie.slice(cookie.indexOf("=") + 1, cookie.indexOf("=") + 40));
    expect(all).not.toContain(csrf);
  });
});

describe("over https (the app's public URL, OIDC_PROXY, is https)", () => {
  const PUBLIC = "https://app.example.org";
  let httpsIdp: DevIdp;
  let stack: Stack;
  beforeAll(async () => {
    httpsIdp = await startDevIdp({
      clients: DEMO_CLIENTS.map((c) => ({
        ...c,
        redirectUris: [`${PUBLIC}/api/auth/v2/callback`],
        postLogoutRedirectUris: [`${PUBLIC}/`],
      })),
    });
    // Served on loopback http, published as https by a (pretend) TLS proxy in front.
    stack = await startStack({ idp: httpsIdp, env: { OIDC_PROXY: PUBLIC } });
  });
  afterAll(async () => {
    await stack?.close();
    await httpsIdp?.stop();
  });

  it("names the cookie __Host-oidc_auth_session and marks it Secure", async () => {
    const login = await rawRequest(new URL("/api/auth/v2/login?return_to=%2Fprofile", stack.url));
    expect(login.status).toBe(302);
    const authorization = new URL(login.headers.get("location") as string);
    expect(authorization.searchParams.get("redirect_uri")).toBe(`${PUBLIC}/api/auth/v2/callback`);
    const tx = login.headers.getSetCookie()[0] as string;
    expect(tx).toMatch(/^__Host-oidc_auth_tx=/);
    const back = await httpsIdp.completeLogin(authorization.href, "alice", "alice-password");
    expect(back.origin).toBe(PUBLIC);
    // What the TLS proxy hands the app: the same path and query, over loopback http.
    const callback = await rawRequest(new URL(`${back.pathname}${back.search}`, stack.url), {
      headers: { cookie: tx.split(";")[0] as string },
    });
    expect(callback.status).toBe(303);
    const session = callback.headers
      .getSetCookie()
      .find((c) => c.startsWith("__Host-oidc_auth_session=")) as string;
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Path=\//);
    expect(session).not.toMatch(/Domain=/i);
    const value = (session.split(";")[0] as string).split("=")[1] as string;
    const me = await fetch(`${stack.url}/api/me`, {
      headers: { cookie: `__Host-oidc_auth_session=${value}` },
    });
    expect(me.status).toBe(200);
    // The same value under the name without the prefix (planted by a sibling subdomain over
    // http) is not the session.
    const planted = await fetch(`${stack.url}/api/me`, {
      headers: { cookie: `oidc_auth_session=${value}` },
    });
    expect(planted.status).toBe(401);
    // Same-origin means the public origin here: the app's own page posts from it.
    const post = (origin: string) =>
      rawRequest(new URL("/profile/hello", stack.url), {
        method: "POST",
        headers: { cookie: `__Host-oidc_auth_session=${value}`, origin },
      });
    expect((await post(PUBLIC)).status).toBe(200);
    expect((await post(new URL(stack.url).origin)).status).toBe(403);
  });
});
