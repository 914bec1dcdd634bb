/**
 * Issue 15's acceptance for the Hono example: the browser-session journey in headless
 * Chromium with JavaScript disabled, in both modes (see test-support/session-journey.ts).
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import { sessionJourney } from "../../../test-support/session-journey.js";
import type { Stack } from "./support.js";
import { startStack } from "./support.js";

/** The IdP's access tokens live this long: the journey waits past it once per mode. */
const ACCESS_TOKEN_TTL = 8;

const MODES: { mode: string; env: Record<string, string> }[] = [
  { mode: "passthrough", env: {} },
  { mode: "broker", env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" } },
];

let idp: DevIdp;
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium(); // fails (never skips) without Chromium
  // Refresh tokens like Keycloak's: issued without offline_access, ended by the IdP's logout.
  idp = await startDevIdp({ accessTokenTtlSec: ACCESS_TOKEN_TTL, onlineRefreshTokens: true });
});
afterAll(async () => {
  await browser?.close();
  await idp?.stop();
});

describe.each(MODES)(
  "the Hono example's /profile with JavaScript disabled ($mode)",
  ({ mode, env }) => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ idp, env });
      await idp.setBackchannelLogoutUri(
        "oidc-auth-demo",
        `${stack.url}/api/auth/v2/backchannel-logout`,
      );
    });
    afterAll(async () => {
      await idp.setBackchannelLogoutUri("oidc-auth-demo", null);
      await stack?.close();
    });

    it("signs in, stays signed in past the token's lifetime, and logs out", async () => {
      const { cookieAfterLogin, cookieAfterRenewal } = await sessionJourney({
        browser,
        appUrl: stack.url,
        issuer: idp.issuer,
        username: "alice",
        password: "alice-password",
        accessTokenTtlSec: ACCESS_TOKEN_TTL,
      });
      // Passthrough seals the renewed tokens into a new cookie; broker keeps them in the store.
      if (mode === "passthrough") expect(cookieAfterRenewal).not.toBe(cookieAfterLogin);
      else expect(cookieAfterRenewal).toBe(cookieAfterLogin);
    });
  },
);

describe.each(MODES)(
  "logging out at the IdP itself, with JavaScript disabled ($mode)",
  ({ env }) => {
    let stack: Stack;
    // Access tokens that outlive the test: nothing is renewed, so only the IdP's back-channel
    // logout can end the session.
    let longLived: DevIdp;
    beforeAll(async () => {
      longLived = await startDevIdp({ accessTokenTtlSec: 600, onlineRefreshTokens: true });
      stack = await startStack({ idp: longLived, env });
      await longLived.setBackchannelLogoutUri(
        "oidc-auth-demo",
        `${stack.url}/api/auth/v2/backchannel-logout`,
      );
    });
    afterAll(async () => {
      await stack?.close();
      await longLived?.stop();
    });

    it("ends the app's session: the next /profile goes to the login", async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      try {
        const page = await context.newPage();
        await page.goto(`${stack.url}/profile`);
        await page.fill("#username", "alice");
        await page.fill("#password", "alice-password");
        await Promise.all([
          page.waitForURL((url) => url.href.startsWith(`${stack.url}/profile`)),
          page.click("#dev-idp-login button[type=submit]"),
        ]);
        expect((await page.textContent("#username"))?.trim()).toBe("alice");
        // The IdP's own end-session page (no id_token_hint, no client): its sign-out button.
        await page.goto(`${longLived.issuer}/session/end`);
        await Promise.all([page.waitForLoadState(), page.click("button[type=submit]")]);
        expect(await page.textContent("body")).toContain("Signed out");
        await page.goto(`${stack.url}/profile`);
        expect(page.url().startsWith(`${longLived.issuer}/interaction/`)).toBe(true);
      } finally {
        await context.close();
      }
    });
  },
);
