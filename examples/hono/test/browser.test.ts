import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import type { Stack } from "./support.js";
import { startStack } from "./support.js";

/** Where the test leaves its screenshots (the IdP's login form, the logged-in demo page). */
const LOGIN_SCREENSHOT = "/tmp/oidc-auth-demo-idp-login.png";
const SCREENSHOT = "/tmp/oidc-auth-demo-logged-in.png";

let stack: Stack;
let browser: Browser;
let page: Page;
let launchError: unknown;
const pageErrors: string[] = [];

/** Fails the test when Chromium could not be launched. */
function requireChromium() {
  if (launchError) throw launchError;
}

describe("the demo page in headless Chromium", () => {
  beforeAll(async () => {
    // Chromium first. Without it every test fails (not skips) with the install command.
    try {
      browser = await launchChromium();
    } catch (error) {
      launchError = error;
      return;
    }
    // As `pnpm demo` runs it: broker mode, the page's /callback as redirect URI (memory store
    // instead of the embedded PGlite one, for speed).
    stack = await startStack({
      env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" },
    });
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(error.message));
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("logs in through the IdP's login form and shows the claims", async () => {
    requireChromium();
    await page.goto(`${stack.url}/`);
    await expect.poll(() => page.textContent("#status")).toBe("Not logged in.");

    await page.click("#login");
    await page.waitForURL((url) => url.href.startsWith(`${stack.idp.issuer}/interaction/`));
    await page.fill("#username", "alice");
    await page.fill("#password", "alice-password");
    await page.screenshot({ path: LOGIN_SCREENSHOT });
    await page.click("#dev-idp-login button[type=submit]");

    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent("#status")).toBe("Logged in as alice.");
    const claims = JSON.parse((await page.textContent("#claims")) ?? "{}");
    expect(claims).toMatchObject({
      iss: stack.url,
      sub: "u-alice",
      preferred_username: "alice",
      email: "alice@example.org",
    });
    expect(claims.roles).toEqual(expect.arrayContaining(["admin"]));
  });

  it("calls /api/me with the token and shows status 200", async () => {
    requireChromium();
    // the page already called /api/me to show the claims: clear that answer first
    await page.$eval("#output", (output) => {
      output.textContent = "";
    });
    await page.click("#me");
    await expect.poll(() => page.textContent("#output")).toMatch(/"status": 200/);
    const output = JSON.parse((await page.textContent("#output")) ?? "{}");
    expect(output.body).toMatchObject({ preferred_username: "alice" });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("logs out through the IdP and comes back logged out", async () => {
    requireChromium();
    await page.click("#logout");
    await page.waitForURL(`${stack.url}/`);
    await expect.poll(() => page.textContent("#status")).toBe("Not logged in.");
    expect(pageErrors).toEqual([]);
  });
});
