import { fileURLToPath } from "node:url";
import decodeQR from "@paulmillr/qr/decode.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import type { Stack } from "./support.js";
import { startStack } from "./support.js";

/** The README's quick start shows this one (committed); the others stay in /tmp. */
const README_SCREENSHOT = fileURLToPath(new URL("../../../docs/demo.png", import.meta.url));
const shot = (name: string) => `/tmp/oidc-auth-demo-${name}.png`;

let stack: Stack;
let browser: Browser;
let page: Page;
let launchError: unknown;
const pageErrors: string[] = [];

/** Fails the test when Chromium could not be launched. */
function requireChromium() {
  if (launchError) throw launchError;
}

const text = async (selector: string) => ((await page.textContent(selector)) ?? "").trim();
const enabled = async (id: string) => !(await page.isDisabled(`#${id}`));

/** Logs in through the dev IdP's real login form and waits for the page to say so. */
async function logIn(username: string) {
  await page.click("#login");
  await page.waitForURL((url) => url.href.startsWith(`${stack.idp.issuer}/interaction/`));
  await page.fill("#username", username);
  await page.fill("#password", `${username}-password`);
  await page.click("#dev-idp-login button[type=submit]");
  await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${stack.url}/`);
  await expect.poll(() => text("#status")).toBe(`Logged in as ${username}.`);
}

async function logOut() {
  await page.click("#logout");
  await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${stack.url}/`);
  await expect.poll(() => text("#status")).toBe("Not logged in.");
}

/** The QR code on the page, drawn on a canvas and decoded. */
async function scanQr(): Promise<string> {
  const image = await page.$eval("#device-qr svg", async (svg) => {
    const size = 400;
    const source = new XMLSerializer().serializeToString(svg);
    const img = new Image(size, size);
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(source)}`;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = size;
    canvas.height = size;
    const context = canvas.getContext("2d") as CanvasRenderingContext2D;
    context.drawImage(img, 0, 0, size, size);
    const { data } = context.getImageData(0, 0, size, size);
    return { width: size, height: size, data: Array.from(data) };
  });
  return decodeQR({ ...image, data: new Uint8Array(image.data) });
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
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("response", (response) => {
      if (response.status() === 404) pageErrors.push(`404 ${response.url()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it("logged out: says so, and offers only what can work", async () => {
    requireChromium();
    await page.goto(`${stack.url}/`);
    await expect.poll(() => text("#status")).toBe("Not logged in.");
    expect(await enabled("login")).toBe(true);
    for (const id of ["refresh", "logout", "me", "admin"])
      expect(await enabled(id), id).toBe(false);
    expect(await enabled("device")).toBe(true);
    expect(await text("#claims")).toBe("Log in to see the token's claims.");
    expect(await page.isHidden("#lifetime")).toBe(true);
    const icon = await fetch(`${stack.url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
    await page.screenshot({ path: shot("logged-out") });
  });

  it("logged in: who and how, the token's lifetime counting down, the claims with the roles", async () => {
    requireChromium();
    await logIn("alice");
    expect(await text("#how")).toBe("via browser login");
    await expect.poll(() => text("#expires")).toMatch(/^expires in \d+:\d\d$/);
    const first = await text("#expires");
    await expect.poll(() => text("#expires"), { timeout: 3000 }).not.toBe(first);
    const claims = await text("#claims");
    for (const value of ["u-alice", "alice@example.org", stack.url])
      expect(claims).toContain(value);
    const roles = await page.$$eval("#claims .chip", (chips) => chips.map((c) => c.textContent));
    expect(roles).toEqual(expect.arrayContaining(["admin", "user", "editor", "/staff"]));
    for (const id of ["refresh", "logout", "me", "admin"]) expect(await enabled(id), id).toBe(true);
    expect(await enabled("login")).toBe(false);
    expect(await text("#timeline")).toMatch(/Logged in as alice \(browser login\)/);
  });

  it("shows each call's method, path and status beside its button, and a visible refresh", async () => {
    requireChromium();
    await page.click("#me");
    await expect.poll(() => text("#result-me")).toMatch(/^GET \/api\/me → 200 OK · hello alice$/);
    await page.click("#admin");
    await expect
      .poll(() => text("#result-admin"))
      .toMatch(/^GET \/api\/admin → 200 OK · Welcome, administrator alice\.$/);
    await page.click("#refresh");
    await expect
      .poll(() => text("#result-refresh"))
      .toMatch(/^POST \/api\/auth\/v2\/token → 200 OK · refresh: new access token …\S{6}$/);
    await expect.poll(() => text("#how")).toMatch(/^via browser login · refreshed 1×, last at /);
    expect(await text("#timeline")).toMatch(/Refreshed: new access token …\S{6} \(was …\S{6}\)/);
    await expect.poll(() => text("#status")).toBe("Logged in as alice.");
    await page.screenshot({ path: README_SCREENSHOT });
  });

  it("logs out through the IdP and comes back logged out, with the event in the timeline", async () => {
    requireChromium();
    await logOut();
    expect(await text("#timeline")).toContain("Logged out (alice)");
    expect(await enabled("logout")).toBe(false);
  });

  it("admin refused for bob: 403 beside the button and in the timeline", async () => {
    requireChromium();
    await logIn("bob");
    await page.click("#admin");
    await expect
      .poll(() => text("#result-admin"))
      .toMatch(/^GET \/api\/admin → 403 Forbidden · access_denied: /);
    expect(await text("#timeline")).toMatch(/\/api\/admin refused bob \(403 access_denied\)/);
    const roles = await page.$$eval("#claims .chip", (chips) => chips.map((c) => c.textContent));
    expect(roles).not.toContain("admin");
    await page.screenshot({ path: shot("admin-refused") });
    await logOut();
  });

  it("device login: the code, the link and a QR code that carries the link; approval logs in", async () => {
    requireChromium();
    await page.click("#device");
    await expect.poll(() => page.isVisible("#device-box")).toBe(true);
    const code = await text("#device-code");
    expect(code).toMatch(/^[A-Z0-9-]{6,}$/);
    const link = (await page.getAttribute("#device-link", "href")) as string;
    expect(link.startsWith(`${stack.idp.issuer}/`)).toBe(true);
    expect(await text("#device-link")).toBe(link);
    expect(await text("#device-state")).toMatch(/Waiting for approval/);
    expect(await text("#result-device")).toMatch(/^POST \/api\/auth\/v2\/device → 200 OK · code /);
    expect(await enabled("device")).toBe(false);
    expect(await scanQr()).toBe(link);
    await page.screenshot({ path: shot("device-pending") });

    await stack.idp.approveDevice(code, "alice", "alice-password");
    await expect.poll(() => text("#status"), { timeout: 20_000 }).toBe("Logged in as alice.");
    expect(await text("#how")).toBe("via device login");
    expect(await text("#timeline")).toContain("Device login approved");
    expect(await page.isHidden("#device-box")).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
