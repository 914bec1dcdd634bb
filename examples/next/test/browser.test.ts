/**
 * The Next.js example's server-rendered /profile in headless Chromium with JavaScript
 * disabled, in passthrough and broker mode: the login round trip, reloads, a renewal on the
 * server after the IdP access token expired, a server action, and the logout form. No token
 * reaches the page, and the session cookie is HttpOnly.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sealer } from "../../../packages/core/src/seal.js";
import type {
  Browser,
  BrowserContext,
  Page,
  PageResponse,
} from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import { BROKER, idpEnv, SECRET } from "./env.js";
import type { RunningExample } from "./start.js";
import { ensureBuilt, startExample } from "./start.js";

/** The IdP's access tokens live this long: the test waits it out once per mode. */
const ACCESS_TOKEN_TTL_SEC = 8;
/** The session cookie's name over http on 127.0.0.1 (no `__Host-` prefix there). */
const COOKIE = "oidc_auth_session";
/** A JWT (IdP access or ID token, broker token): header and payload are base64url JSON. */
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]*/;

let idp: DevIdp;
let browser: Browser;
let tokenPath: string;

beforeAll(async () => {
  // Chromium first: without it every test fails (never skips) with the install command.
  browser = await launchChromium();
  await Promise.all([
    ensureBuilt(),
    startDevIdp({ accessTokenTtlSec: ACCESS_TOKEN_TTL_SEC }).then((started) => (idp = started)),
  ]);
  const discovery = (await (await fetch(idp.discoveryUrl)).json()) as { token_endpoint: string };
  tokenPath = new URL(discovery.token_endpoint).pathname;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await idp?.stop();
});

/** What a passthrough cookie holds (sealed with the app's secret): the IdP tokens. */
async function openPassthroughCookie(value: string): Promise<{ a: string; r?: string }> {
  const payload = await new Sealer([SECRET], "browser-session").open(value, 8 * 4096);
  expect(payload?.k).toBe("p");
  return payload as unknown as { a: string; r?: string };
}

describe.each([
  ["passthrough", {}],
  ["broker (memory://)", { ...BROKER, OIDC_BROKER_STORE_URL: "memory://" }],
])("/profile with JavaScript disabled, %s mode", (mode, extra: Record<string, string>) => {
  const passthrough = mode === "passthrough";
  let app: RunningExample;
  let context: BrowserContext;
  let page: Page;
  /** Every HTML document the browser received from the app, as sent. */
  const documents: string[] = [];
  /** Every value the session cookie had, and what it held. */
  const secrets = new Set<string>();
  let loggedInAt = 0;

  beforeAll(async () => {
    app = await startExample(idpEnv(idp, { ...extra, OIDC_OFFLINE_ACCESS: "true" }));
    context = await browser.newContext({ javaScriptEnabled: false });
    page = await context.newPage();
    page.on("response", async (response: PageResponse) => {
      const type = response.headers()["content-type"] ?? "";
      if (response.url().startsWith(app.url) && type.startsWith("text/html")) {
        documents.push(await response.text().catch(() => ""));
      }
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await app?.close();
  });

  const username = async () => ((await page.textContent("#username")) ?? "").trim();
  const onProfile = (url: URL) => `${url.origin}${url.pathname}` === `${app.url}/profile`;

  /** The session cookie as the browser keeps it (undefined without one). */
  async function sessionCookie() {
    return (await context.cookies(app.url)).find((c) => c.name === COOKIE);
  }

  /** Records the cookie's value and, in passthrough mode, the IdP tokens sealed inside. */
  async function rememberSecrets(): Promise<string> {
    const cookie = await sessionCookie();
    expect(cookie).toBeDefined();
    const value = cookie?.value as string;
    secrets.add(value);
    if (passthrough) {
      const { a, r } = await openPassthroughCookie(value);
      secrets.add(a);
      if (r) secrets.add(r);
    }
    return value;
  }

  it("sends /profile through the IdP's login page and back", async () => {
    const first = page.waitForResponse((r) => r.url() === `${app.url}/profile`);
    await page.goto(`${app.url}/profile`);
    const redirect = await first;
    expect([303, 307]).toContain(redirect.status());
    expect(redirect.headers().location).toBe("/api/auth/v2/login?return_to=%2Fprofile");
    expect(page.url().startsWith(`${idp.issuer}/interaction/`)).toBe(true);
    await page.fill("#username", "alice");
    await page.fill("#password", "alice-password");
    await page.click("#dev-idp-login button[type=submit]");
    await page.waitForURL(onProfile);
    loggedInAt = Date.now();
    expect(await username()).toBe("alice");
    const roles = await page.$$eval("#roles li", (items) => items.map((li) => li.textContent));
    expect(roles).toEqual(expect.arrayContaining(["admin", "user", "/staff"]));
    await rememberSecrets();
  });

  it("keeps an HttpOnly session cookie and nothing readable by page scripts holds a token", async () => {
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    const readable = (await context.cookies(app.url))
      .filter((c) => !c.httpOnly)
      .map((c) => `${c.name}=${c.value}`);
    // What a script on the page would read (Playwright evaluates even with scripts disabled).
    const documentCookie = await page.evaluate(() => document.cookie);
    expect(documentCookie).not.toContain(COOKIE);
    for (const text of [...readable, documentCookie]) {
      expect(text).not.toMatch(JWT);
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  it("is still logged in after a reload", async () => {
    const response = await page.reload();
    expect(response?.status()).toBe(200);
    expect(await username()).toBe("alice");
  });

  it(
    "renews the session on the server once the IdP access token has expired",
    async () => {
      const before = await rememberSecrets();
      const refreshes = idp.hits.get(tokenPath) ?? 0;
      const wait = loggedInAt + (ACCESS_TOKEN_TTL_SEC + 2) * 1000 - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
      const response = await page.reload();
      expect(response?.status(), app.output()).toBe(200);
      expect(await username()).toBe("alice");
      expect(idp.hits.get(tokenPath) ?? 0).toBeGreaterThan(refreshes);
      const after = await rememberSecrets();
      if (passthrough) {
        // auth.proxy() renewed it before the page rendered and sent the browser the new cookie.
        expect(after).not.toBe(before);
      } else {
        // Broker cookies name the session in the store; they never change.
        expect(after).toBe(before);
      }
      expect((await page.reload())?.status()).toBe(200);
      expect(await username()).toBe("alice");
    },
    (ACCESS_TOKEN_TTL_SEC + 30) * 1000,
  );

  it("runs a server action that checks the session (a plain form POST)", async () => {
    await page.click("#hello");
    await page.waitForURL((url) => onProfile(url) && url.searchParams.get("greeted") === "1");
    expect(await page.textContent("#greeting")).toContain("server action");
  });

  it("never puts a token into the HTML it serves", () => {
    expect(documents.length).toBeGreaterThanOrEqual(5);
    for (const html of documents) {
      expect(html).not.toMatch(JWT);
      for (const secret of secrets) expect(html).not.toContain(secret);
    }
  });

  it("ends the session with the logout form, and /profile asks for a login again", async () => {
    await page.click("#logout");
    // The IdP asks to confirm (a form it submits by script; here its <noscript> button).
    expect(page.url().startsWith(`${idp.issuer}/`)).toBe(true);
    await page.click("form button[type=submit]");
    // Back on the home page (post_logout_redirect_uri, with the IdP's state).
    await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${app.url}/`);
    expect(await sessionCookie()).toBeUndefined();
    const response = await page.goto(`${app.url}/profile`);
    expect(response?.url().startsWith(`${idp.issuer}/interaction/`)).toBe(true);
    expect(await page.isVisible("#dev-idp-login")).toBe(true);
  });
});
