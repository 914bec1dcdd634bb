/**
 * Browser sessions (backend-for-frontend) in the SvelteKit example: the login ends in an
 * HttpOnly cookie, the server-rendered /profile page and its form action use it, the server
 * renews it at the IdP, and a plain HTML form ends it, all with JavaScript disabled.
 */
import { request as httpRequest } from "node:http";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import type { RunningExample } from "./start.js";
import { startExample } from "./start.js";

const SECRET = "sessions-test-secret-sessions-test-secret";
/** The first start may run `vite build`. */
const START_TIMEOUT_MS = 240_000;
/** The IdP's access tokens live this long, so the test outlives one. */
const ACCESS_TOKEN_TTL_SEC = 8;
const COOKIE = "oidc_auth_session";
const LOGIN_PATH = "/api/auth/v2/login";

const MODES = [
  { mode: "passthrough", env: {} },
  // Without a store URL: the embedded PGlite store, the example's default (as in example.test.ts).
  { mode: "broker", env: { OIDC_BROKER_MODE: "true" } },
] as const;

let idp: DevIdp;
let tokenEndpointPath: string;
let browser: Browser;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The example's whole configuration: sessions get IdP refresh tokens (offline_access). */
function exampleEnv(extra: Record<string, string>): Record<string, string> {
  return {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: "oidc-auth-demo",
    OIDC_CLIENT_SECRET: "oidc-auth-demo-secret",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: SECRET,
    OIDC_OFFLINE_ACCESS: "true",
    ...extra,
  };
}

/** How often the IdP's token endpoint was called (code exchanges and refreshes). */
const tokenCalls = () => idp.hits.get(tokenEndpointPath) ?? 0;

/** `name=value` of the session cookie(s) among Set-Cookie values that set (not clear) them. */
function sessionCookieHeader(setCookies: readonly string[]): string {
  return setCookies
    .map((value) => value.split(";")[0] as string)
    .filter((pair) => pair.startsWith(COOKIE) && !pair.endsWith("="))
    .join("; ");
}

/** A browser-session login driven with fetch: the Cookie header that carries the session. */
async function sessionLogin(app: RunningExample, username = "alice"): Promise<string> {
  const start = await fetch(`${app.url}${LOGIN_PATH}?return_to=%2Fprofile`, {
    redirect: "manual",
  });
  expect(start.status).toBe(302);
  const tx = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const redirect = await idp.completeLogin(
    start.headers.get("location") as string,
    username,
    `${username}-password`,
  );
  expect(`${redirect.origin}${redirect.pathname}`).toBe(`${app.url}/api/auth/v2/callback`);
  const callback = await fetch(redirect, { headers: { cookie: tx }, redirect: "manual" });
  expect(callback.status).toBe(303);
  expect(callback.headers.get("location")).toBe("/profile");
  const cookie = sessionCookieHeader(callback.headers.getSetCookie());
  expect(cookie).toMatch(new RegExp(`^${COOKIE}`));
  return cookie;
}

/** What {@link navigate} got back. */
interface Navigation {
  status: number;
  /** The path and query of the Location header. */
  location: string | undefined;
  setCookies: string[];
  body: string;
}

/**
 * A top-level GET navigation as a browser sends it (`Sec-Fetch-Mode: navigate`, which
 * fetch() overrides with `cors`), without following redirects.
 */
function navigate(url: string, cookie?: string): Promise<Navigation> {
  const headers: Record<string, string> = {
    accept: "text/html,application/xhtml+xml",
    "sec-fetch-mode": "navigate",
    "sec-fetch-dest": "document",
    "sec-fetch-site": "none",
  };
  if (cookie !== undefined) headers.cookie = cookie;
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        const location = res.headers.location;
        const target = location === undefined ? undefined : new URL(location, url);
        resolve({
          status: res.statusCode ?? 0,
          location: target && `${target.pathname}${target.search}`,
          setCookies: res.headers["set-cookie"] ?? [],
          body,
        });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** The text of the page's element (trimmed), or "" when there is none. */
async function text(page: Page, selector: string): Promise<string> {
  const element = await page.$(selector);
  return ((await element?.textContent()) ?? "").trim();
}

beforeAll(async () => {
  idp = await startDevIdp({ accessTokenTtlSec: ACCESS_TOKEN_TTL_SEC });
  const discovery = (await (await fetch(idp.discoveryUrl)).json()) as { token_endpoint: string };
  tokenEndpointPath = new URL(discovery.token_endpoint).pathname;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await idp?.stop();
});

describe.each(MODES)("browser sessions in $mode mode", ({ mode, env }) => {
  let app: RunningExample;

  beforeAll(async () => {
    app = await startExample(exampleEnv(env));
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await app?.close();
  });

  it("logs in, renders /profile on the server, renews the session and logs out, with JavaScript disabled", async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      const serverErrors: string[] = [];
      page.on("response", (response) => {
        if (response.status() >= 500) serverErrors.push(`${response.status()} ${response.url()}`);
      });

      // Not signed in: /profile → the app's login → the IdP's login page.
      await page.goto(`${app.url}/profile`);
      expect(page.url().startsWith(`${idp.issuer}/interaction/`), page.url()).toBe(true);
      await page.fill("#username", "alice");
      await page.fill("#password", "alice-password");
      await page.click("#dev-idp-login button[type=submit]");
      await page.waitForURL(`${app.url}/profile`);
      expect(await text(page, "h2")).toBe("Profile of alice");
      expect(await text(page, "dd:nth-of-type(2)")).toMatch(/admin/);

      // The session cookie: HttpOnly, SameSite=Lax, for this app only.
      const cookies = (await context.cookies(app.url)).filter((c) => c.name.startsWith(COOKIE));
      expect(cookies.length).toBeGreaterThan(0);
      for (const cookie of cookies) {
        expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
      }

      // Reloads stay signed in; the HTML holds no token (nor the cookie's value).
      const reload = await page.reload();
      expect(reload?.status()).toBe(200);
      const html = (await reload?.text()) ?? "";
      expect(html).toContain("Profile of alice");
      expect(html).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+/);
      for (const cookie of cookies) expect(html).not.toContain(cookie.value);

      // The form action uses the session, posted from the page itself.
      await page.fill("input[name=name]", "Bob");
      await page.click("text=Say hello");
      await expect.poll(() => text(page, ".greeting")).toBe("Hello, Bob! Greetings from alice.");
      expect(new URL(page.url()).pathname).toBe("/profile");
      await page.goto(`${app.url}/profile`);

      // Past the IdP access token's lifetime: the server renews the session at the IdP.
      const callsBefore = tokenCalls();
      await sleep((ACCESS_TOKEN_TTL_SEC + 2) * 1000);
      const later = await page.reload();
      expect(later?.status()).toBe(200);
      expect(await text(page, "h2")).toBe("Profile of alice");
      expect(tokenCalls()).toBeGreaterThan(callsBefore);
      await page.reload();
      expect(await text(page, "h2")).toBe("Profile of alice");

      // The logout form: the session ends here and at the IdP (its confirmation page
      // has a Sign out button for browsers without JavaScript), then back to /.
      await page.click("text=Log out");
      const home = (url: URL) => `${url.origin}${url.pathname}` === `${app.url}/`;
      await page.waitForURL((url) => url.origin === idp.issuer || home(url));
      if (page.url().startsWith(idp.issuer)) {
        await page.click("button:has-text('Sign out')");
      }
      await page.waitForURL(home); // with the IdP's state
      expect(await page.textContent("main")).toContain("Not signed in.");
      const left = (await context.cookies(app.url)).filter((c) => c.name.startsWith(COOKIE));
      expect(left).toEqual([]);

      // /profile sends the browser to the login again.
      await page.goto(`${app.url}/profile`);
      expect(page.url().startsWith(`${idp.issuer}/interaction/`), page.url()).toBe(true);
      expect(serverErrors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it("sends a client-side navigation (JavaScript enabled) through the login and back", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const dataRequests: string[] = [];
      page.on("request", (request) => {
        if (request.url().includes("/__data.json")) dataRequests.push(request.url());
      });
      await page.goto(`${app.url}/`);
      await page.waitForLoadState("networkidle"); // hydrated: the router takes the click
      await page.click('nav a[href="/profile"]');
      await page.waitForURL((url) => url.href.startsWith(`${idp.issuer}/interaction/`));
      expect(dataRequests).toEqual([expect.stringContaining(`${app.url}/profile/__data.json`)]);
      await page.fill("#username", "alice");
      await page.fill("#password", "alice-password");
      await page.click("#dev-idp-login button[type=submit]");
      await page.waitForURL(`${app.url}/profile`);
      expect(await text(page, "h2")).toBe("Profile of alice");
    } finally {
      await context.close();
    }
  });

  it("redirects navigations and client-side navigations to the login, and back", async () => {
    const page = await navigate(`${app.url}/profile?tab=roles`);
    expect(page.status).toBe(303);
    expect(page.location).toBe(`${LOGIN_PATH}?return_to=%2Fprofile%3Ftab%3Droles`);
    // SvelteKit's client-side navigation asks for the page's data; it gets the redirect as data.
    const data = await fetch(`${app.url}/profile/__data.json?x-sveltekit-invalidated=01`);
    expect(data.status).toBe(200);
    expect(await data.json()).toEqual({
      type: "redirect",
      location: `${LOGIN_PATH}?return_to=%2Fprofile`,
    });
  });

  it("answers an API route without credentials with 401 JSON, also for a navigation", async () => {
    const response = await fetch(`${app.url}/api/me`);
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ error: "invalid_token" });
    const navigation = await navigate(`${app.url}/api/me`);
    expect(navigation.status).toBe(401);
    expect(JSON.parse(navigation.body)).toMatchObject({ error: "invalid_token" });
  });

  it("serves the API and the page to the session cookie", async () => {
    const cookie = await sessionLogin(app, "bob");
    const me = await fetch(`${app.url}/api/me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ sub: "u-bob", preferred_username: "bob" });
    const hello = await fetch(`${app.url}/api/hello`, { headers: { cookie } });
    expect(await hello.json()).toEqual({ hello: "bob" });
    const page = await navigate(`${app.url}/profile`, cookie);
    expect(page.status).toBe(200);
    expect(page.body).toContain("Profile of bob");
    const admin = await fetch(`${app.url}/api/admin`, { headers: { cookie } });
    expect(admin.status).toBe(403);
  });

  it("refuses cross-site POSTs that carry the cookie (403), and serves same-origin ones", async () => {
    const cookie = await sessionLogin(app);
    const evil = { cookie, origin: "https://evil.example" };
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const action = await fetch(`${app.url}/profile?/hello`, {
      method: "POST",
      headers: { ...evil, ...form },
      body: "name=Mallory",
    });
    expect(action.status).toBe(403);
    expect(await action.text()).not.toContain("Mallory");
    const api = await fetch(`${app.url}/api/greet`, {
      method: "POST",
      headers: { ...evil, "content-type": "application/json" },
      body: JSON.stringify({ name: "Mallory" }),
    });
    expect(api.status).toBe(403);
    expect(await api.json()).toMatchObject({ error: "invalid_request" });
    const noOrigin = await fetch(`${app.url}/api/greet`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ name: "Mallory" }),
    });
    expect(noOrigin.status).toBe(403);

    const own = { cookie, origin: app.url };
    const ownAction = await fetch(`${app.url}/profile?/hello`, {
      method: "POST",
      headers: { ...own, ...form, accept: "application/json" },
      body: "name=Carol",
    });
    expect(ownAction.status).toBe(200);
    expect(JSON.stringify(await ownAction.json())).toContain("Hello, Carol! Greetings from alice.");
    const ownApi = await fetch(`${app.url}/api/greet`, {
      method: "POST",
      headers: { ...own, "content-type": "application/json" },
      body: JSON.stringify({ name: "Carol" }),
    });
    expect(ownApi.status).toBe(200);
    expect(await ownApi.json()).toEqual({ greeting: "Hello, Carol! Greetings from alice." });
  });

  it("takes the session's CSRF token instead of an Origin header", async () => {
    const cookie = await sessionLogin(app);
    const page = await (await fetch(`${app.url}/profile`, { headers: { cookie } })).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1];
    expect(csrf).toEqual(expect.any(String));
    const response = await fetch(`${app.url}/api/greet`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "x-csrf-token": csrf as string },
      body: JSON.stringify({ name: "Dave" }),
    });
    expect(response.status).toBe(200);
    const wrong = await fetch(`${app.url}/api/greet`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", "x-csrf-token": `${csrf}x` },
      body: JSON.stringify({ name: "Dave" }),
    });
    expect(wrong.status).toBe(403);
  });

  it("treats a tampered or foreign cookie as anonymous, clears it, and never answers 5xx", async () => {
    const cookie = await sessionLogin(app);
    const value = cookie.slice(cookie.indexOf("=") + 1).split(";")[0] as string;
    const flipped = `${value.slice(0, 40)}${value[40] === "A" ? "B" : "A"}${value.slice(41)}`;
    const tampered = [
      `${COOKIE}=${flipped}`,
      `${COOKIE}=${value.slice(0, -10)}`,
      `${COOKIE}=`,
      `${COOKIE}=not-a-session`,
      `${COOKIE}=${"x".repeat(6000)}`,
      `${COOKIE}.0=abc; ${COOKIE}.1=def`,
      `${COOKIE}=%00%ff`,
    ];
    for (const bad of tampered) {
      const me = await fetch(`${app.url}/api/me`, { headers: { cookie: bad } });
      expect(me.status, bad.slice(0, 60)).toBe(401);
      const hello = await fetch(`${app.url}/api/hello`, { headers: { cookie: bad } });
      expect(hello.status, bad.slice(0, 60)).toBe(200);
      expect(await hello.json()).toEqual({ hello: "anonymous" });
      const page = await navigate(`${app.url}/profile`, bad);
      expect(page.status, bad.slice(0, 60)).toBe(303);
      expect(page.location).toBe(`${LOGIN_PATH}?return_to=%2Fprofile`);
      const action = await fetch(`${app.url}/profile?/hello`, {
        method: "POST",
        headers: {
          cookie: bad,
          origin: app.url,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: "name=x",
      });
      expect(action.status, bad.slice(0, 60)).toBe(401);
    }
    const cleared = await fetch(`${app.url}/api/hello`, {
      headers: { cookie: `${COOKIE}=${flipped}` },
    });
    expect(cleared.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^oidc_auth_session=;.*Max-Age=0/),
    ]);
  });

  it("renews a session once for a hook and a guard (one Set-Cookie per cookie)", async () => {
    const cookie = await sessionLogin(app);
    const before = tokenCalls();
    // The IdP's access token is renewed 15 s before it expires: with tokens this short-lived,
    // on the first request after the login.
    await sleep(Math.max(0, ACCESS_TOKEN_TTL_SEC - 14) * 1000);
    const response = await fetch(`${app.url}/api/me`, { headers: { cookie } });
    expect(response.status).toBe(200);
    expect(tokenCalls()).toBe(before + 1);
    const names = response.headers.getSetCookie().map((c) => c.split("=")[0]);
    expect(new Set(names).size).toBe(names.length);
  }, 30_000);

  it("refuses a cross-site logout without the CSRF token and ends the session with it", async () => {
    const cookie = await sessionLogin(app);
    const logout = (fields: Record<string, string>, origin: string) =>
      fetch(`${app.url}/api/auth/v2/logout`, {
        method: "POST",
        headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields),
        redirect: "manual",
      });
    const refused = await logout({ post_logout_redirect_uri: "/" }, "https://evil.example");
    expect(refused.status).toBe(403);
    expect((await fetch(`${app.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    const page = await (await fetch(`${app.url}/profile`, { headers: { cookie } })).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] as string;
    const ended = await logout({ csrf_token: csrf, post_logout_redirect_uri: "/" }, "null");
    expect(ended.status).toBe(303);
    const endSession = new URL(ended.headers.get("location") as string);
    expect(endSession.origin).toBe(idp.issuer);
    expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${app.url}/`);
    expect(ended.headers.getSetCookie().join("\n")).toMatch(/oidc_auth_session=;.*Max-Age=0/);
    // Broker mode ends the session in the store: a copy of the cookie is useless now. A
    // passthrough cookie holds the tokens themselves: its IdP refresh token is revoked, so a
    // copy works only until its access token expires (no renewal).
    if (mode === "broker") {
      expect((await fetch(`${app.url}/api/me`, { headers: { cookie } })).status).toBe(401);
    }
  });
});
