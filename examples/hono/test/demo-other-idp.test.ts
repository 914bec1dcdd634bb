/**
 * Acceptance: `pnpm demo`'s program against another OpenID Provider, configured
 * independently of the dev IdP's defaults (its own client id and secret, its own audience,
 * redirect and post-logout URIs registered exactly, no loopback leniency), with only the
 * variables the README's "Run the demo against your IdP" lists. A person in Chromium logs
 * in, calls a protected route, refreshes and logs out.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import type { DemoProcess } from "./demo-process.js";
import { startDemo } from "./demo-process.js";

const CLIENT_ID = "acceptance-portal";
const CLIENT_SECRET = "acceptance-portal-secret-9f2c4e1a7b";
const AUDIENCE = "acceptance-api";

let idp: DevIdp;
let demo: DemoProcess;
let appUrl: string;
let dataDir: string;
let browser: Browser;
let page: Page;
let launchError: unknown;
const pageErrors: string[] = [];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const text = async (selector: string) => ((await page.textContent(selector)) ?? "").trim();

describe("the demo against another, strictly configured OpenID Provider", () => {
  beforeAll(async () => {
    try {
      browser = await launchChromium();
    } catch (error) {
      launchError = error;
      return;
    }
    const port = await freePort();
    appUrl = `http://127.0.0.1:${port}`;
    idp = await startDevIdp({
      audience: AUDIENCE,
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          clientName: "Acceptance portal",
          allowAnyLoopbackRedirect: false,
          redirectUris: [`${appUrl}/callback`],
          postLogoutRedirectUris: [`${appUrl}/`],
        },
      ],
      showCredentialHints: false,
    });
    dataDir = await mkdtemp(join(tmpdir(), "oidc-auth-demo-other-idp-"));
    // Exactly the README's list for a real IdP (PORT to move the app; OIDC_DATA_DIR keeps
    // this run's store out of the example's folder).
    demo = startDemo({
      OIDC_DISCOVERY_URL: idp.discoveryUrl,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      OIDC_AUDIENCE: AUDIENCE,
      PORT: String(port),
      OIDC_DATA_DIR: dataDir,
    });
    await demo.printed("Ctrl-C stops everything");
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (error) => pageErrors.push(error.message));
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    await idp?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("uses only variables the README lists", async () => {
    if (launchError) throw launchError;
    const readme = await readFile(
      fileURLToPath(new URL("../../../README.md", import.meta.url)),
      "utf8",
    );
    const section = readme.slice(readme.indexOf("### Run the demo against your IdP"));
    for (const name of [
      "OIDC_DISCOVERY_URL",
      "OIDC_CLIENT_ID",
      "OIDC_CLIENT_SECRET",
      "OIDC_AUDIENCE",
      "PORT",
      "OIDC_DATA_DIR",
    ]) {
      expect(section, name).toContain(name);
    }
    expect(demo.output()).toContain(
      `registered at the IdP, exactly: redirect URI ${appUrl}/callback`,
    );
    expect(demo.output()).toContain(`post-logout redirect URI ${appUrl}/`);
  });

  it("logs in, calls a protected route, refreshes and logs out", async () => {
    if (launchError) throw launchError;
    await page.goto(`${appUrl}/`);
    await expect.poll(() => text("#status")).toBe("Not logged in.");

    await page.click("#login");
    await page.waitForURL((url) => url.href.startsWith(`${idp.issuer}/interaction/`));
    await page.fill("#username", "alice");
    await page.fill("#password", "alice-password");
    await page.click("#dev-idp-login button[type=submit]");
    await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${appUrl}/`);
    await expect.poll(() => text("#status")).toBe("Logged in as alice.");

    await page.click("#me");
    await expect.poll(() => text("#result-me")).toBe("GET /api/me → 200 OK · hello alice");
    await page.click("#admin");
    await expect.poll(() => text("#result-admin")).toMatch(/^GET \/api\/admin → 200 OK/);

    await page.click("#refresh");
    await expect
      .poll(() => text("#result-refresh"))
      .toMatch(/^POST \/api\/auth\/v2\/token → 200 OK · refresh: new access token/);
    await page.click("#me");
    await expect.poll(() => text("#result-me")).toBe("GET /api/me → 200 OK · hello alice");

    // Logout goes through the IdP's end_session with the exactly registered target, and back.
    const endSession = page.waitForRequest(
      (r) => r.isNavigationRequest() && new URL(r.url()).pathname === "/session/end",
    );
    await page.click("#logout");
    const request = new URL((await endSession).url());
    expect(request.searchParams.get("post_logout_redirect_uri")).toBe(`${appUrl}/`);
    expect(request.searchParams.get("client_id")).toBe(CLIENT_ID);
    await page.waitForURL((url) => `${url.origin}${url.pathname}` === `${appUrl}/`);
    await expect.poll(() => text("#status")).toBe("Not logged in.");
    expect(await text("#timeline")).toContain("Logged out (alice)");
    expect(pageErrors).toEqual([]);
  });
});
