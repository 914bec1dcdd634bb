/**
 * Browser sessions of the Next.js example over HTTP: the login that ends in the session
 * cookie, the page guard (`requireSession()` in a server component), the API guard
 * (`withAuth()`), the same-origin rule for unsafe methods, bad cookies and logout.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKER, idpEnv } from "./env.js";
import type { RunningExample } from "./start.js";
import { ensureBuilt, startExample } from "./start.js";

/** The session cookie's name over http on 127.0.0.1 (no `__Host-` prefix there). */
const COOKIE = "oidc_auth_session";

/** What a browser sends when it navigates to a page. */
const NAVIGATION = { "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };

let idp: DevIdp;

beforeAll(async () => {
  await Promise.all([ensureBuilt(), startDevIdp().then((started) => (idp = started))]);
}, 300_000);

afterAll(async () => {
  await idp?.stop();
});

/** `name=value` of every Set-Cookie of a response. */
function setCookies(response: Response): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const header of response.headers.getSetCookie()) {
    const pair = header.split(";")[0] as string;
    const eq = pair.indexOf("=");
    cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return cookies;
}

/**
 * A browser's session login: `/api/auth/v2/login?return_to=…` → the IdP's login form →
 * the app's own callback, which answers 303 back to `return_to` with the session cookie.
 * Answers the Cookie header that carries the session.
 */
async function sessionLogin(app: RunningExample, returnTo = "/profile"): Promise<string> {
  const start = await fetch(
    `${app.url}/api/auth/v2/login?${new URLSearchParams({ return_to: returnTo })}`,
    { redirect: "manual" },
  );
  expect(start.status, app.output()).toBe(302);
  const transaction = setCookies(start).get("oidc_auth_tx");
  expect(transaction).toEqual(expect.any(String));
  const back = await idp.completeLogin(
    start.headers.get("location") as string,
    "alice",
    "alice-password",
  );
  expect(`${back.origin}${back.pathname}`).toBe(`${app.url}/api/auth/v2/callback`);
  const callback = await fetch(back, {
    headers: { cookie: `oidc_auth_tx=${transaction}` },
    redirect: "manual",
  });
  expect(callback.status, app.output()).toBe(303);
  expect(callback.headers.get("location")).toBe(returnTo);
  const session = setCookies(callback).get(COOKIE);
  expect(session).toEqual(expect.any(String));
  return `${COOKIE}=${session}`;
}

async function expectJsonError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(((await response.json()) as { error: string }).error).toBe(error);
}

function postNote(app: RunningExample, headers: Record<string, string>): Promise<Response> {
  return fetch(`${app.url}/api/notes`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: "note=hi",
  });
}

describe.each([
  ["passthrough", {}],
  ["broker (memory://)", { ...BROKER, OIDC_BROKER_STORE_URL: "memory://" }],
])("browser sessions in %s mode", (_mode, extra: Record<string, string>) => {
  let app: RunningExample;
  let cookie: string;

  beforeAll(async () => {
    app = await startExample(idpEnv(idp, extra));
    cookie = await sessionLogin(app);
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  });

  it("sends a navigation to /profile without a session to the login, and back", async () => {
    const page = await fetch(`${app.url}/profile`, { headers: NAVIGATION, redirect: "manual" });
    expect([303, 307]).toContain(page.status);
    expect(page.headers.get("location")).toBe("/api/auth/v2/login?return_to=%2Fprofile");
    const withQuery = await fetch(`${app.url}/profile?tab=roles`, {
      headers: NAVIGATION,
      redirect: "manual",
    });
    expect(withQuery.headers.get("location")).toBe(
      `/api/auth/v2/login?${new URLSearchParams({ return_to: "/profile?tab=roles" })}`,
    );
  });

  it("renders /profile on the server from the session cookie", async () => {
    const page = await fetch(`${app.url}/profile`, {
      headers: { ...NAVIGATION, cookie },
      redirect: "manual",
    });
    expect(page.status, app.output()).toBe(200);
    const html = await page.text();
    expect(html).toContain('<strong id="username">alice</strong>');
    expect(html).toContain("<li>admin</li>");
    expect(html).toMatch(/<input type="hidden" name="csrf_token" value="[\w-]{43}"/);
  });

  it("answers API calls without credentials with 401 JSON, navigations included", async () => {
    await expectJsonError(await fetch(`${app.url}/api/me`), 401, "invalid_token");
    const navigation = await fetch(`${app.url}/api/me`, {
      headers: NAVIGATION,
      redirect: "manual",
    });
    await expectJsonError(navigation, 401, "invalid_token");
  });

  it("lets the session cookie through the API guard", async () => {
    const me = await fetch(`${app.url}/api/me`, { headers: { cookie } });
    expect(me.status, app.output()).toBe(200);
    expect(await me.json()).toMatchObject({ preferred_username: "alice" });
  });

  it("reads passthrough sessions on the edge runtime, and leaves broker ones alone there", async () => {
    const edge = await fetch(`${app.url}/api/edge/me`, { headers: { cookie } });
    if (extra.OIDC_BROKER_MODE) {
      // The broker store is not reachable from an edge isolate: anonymous, cookie kept.
      await expectJsonError(edge, 401, "invalid_token");
      expect(edge.headers.getSetCookie()).toEqual([]);
    } else {
      expect(edge.status, app.output()).toBe(200);
      expect(await edge.json()).toEqual({ sub: "u-alice", runtime: "edge" });
    }
  });

  it("refuses a cross-site POST authenticated by the cookie with 403, and runs a same-origin one", async () => {
    await expectJsonError(
      await postNote(app, { cookie, origin: "https://evil.example" }),
      403,
      "invalid_request",
    );
    await expectJsonError(
      await postNote(app, { cookie, "sec-fetch-site": "cross-site", origin: app.url }),
      403,
      "invalid_request",
    );
    const own = await postNote(app, { cookie, origin: app.url });
    expect(own.status, app.output()).toBe(200);
    expect(await own.json()).toMatchObject({ note: "hi" });
    const sameSite = await postNote(app, { cookie, "sec-fetch-site": "same-origin" });
    expect(sameSite.status).toBe(200);
  });

  it("treats a tampered or garbage cookie as anonymous and clears it, never a 500", async () => {
    const value = cookie.slice(COOKIE.length + 1);
    const middle = Math.floor(value.length / 2);
    const flipped = `${value.slice(0, middle)}${value[middle] === "A" ? "B" : "A"}${value.slice(middle + 1)}`;
    const bad = [
      `${COOKIE}=${flipped}`,
      `${COOKIE}=%%%`,
      `${COOKIE}=${"x".repeat(3000)}`,
      `${COOKIE}.0=${value.slice(0, 100)}`,
      `${COOKIE}=`,
    ];
    for (const badCookie of bad) {
      const api = await fetch(`${app.url}/api/me`, { headers: { cookie: badCookie } });
      await expectJsonError(api, 401, "invalid_token");
      const cleared = api.headers.getSetCookie().join("\n");
      expect(cleared, badCookie).toMatch(new RegExp(`^${COOKIE}(\\.0)?=; .*Max-Age=0`, "m"));
      const page = await fetch(`${app.url}/profile`, {
        headers: { ...NAVIGATION, cookie: badCookie },
        redirect: "manual",
      });
      expect([303, 307], `${badCookie}: ${app.output()}`).toContain(page.status);
      expect(page.headers.get("location")).toMatch(/^\/api\/auth\/v2\/login\?return_to=/);
    }
  });

  it("refuses a cross-site logout without the CSRF token; the form's token ends the session", async () => {
    const profile = await fetch(`${app.url}/profile`, { headers: { ...NAVIGATION, cookie } });
    const csrf = /name="csrf_token" value="([\w-]+)"/.exec(await profile.text())?.[1] as string;
    const logout = (body: Record<string, string>) =>
      fetch(`${app.url}/api/auth/v2/logout`, {
        method: "POST",
        headers: { cookie, origin: "https://evil.example" },
        body: new URLSearchParams(body),
        redirect: "manual",
      });
    await expectJsonError(await logout({}), 403, "invalid_request");
    expect((await fetch(`${app.url}/api/me`, { headers: { cookie } })).status).toBe(200);
    const ended = await logout({ csrf_token: csrf, post_logout_redirect_uri: "/" });
    expect(ended.status, app.output()).toBe(303);
    const endSession = new URL(ended.headers.get("location") as string);
    expect(endSession.origin).toBe(idp.issuer);
    expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${app.url}/`);
    expect(setCookies(ended).get(COOKIE)).toBe("");
    await expectJsonError(
      await fetch(`${app.url}/api/me`, { headers: { cookie } }),
      401,
      "invalid_token",
    );
    const page = await fetch(`${app.url}/profile`, {
      headers: { ...NAVIGATION, cookie },
      redirect: "manual",
    });
    expect([303, 307]).toContain(page.status);
  });
});
