/**
 * Browser sessions on the Express example (issue 15): the journey of
 * test-support/session-journey.ts in headless Chromium with JavaScript disabled, in both
 * modes.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { silentLogger } from "@oidc-auth/express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "../../../test-support/chromium.js";
import { launchChromium } from "../../../test-support/chromium.js";
import { exampleEnv } from "../../../test-support/conformance.js";
import { sessionJourney } from "../../../test-support/session-journey.js";
import type { RunningServer } from "../src/server.js";
import { startServer } from "../src/server.js";

const ACCESS_TOKEN_TTL = 8;

let idp: DevIdp;
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium(); // fails (never skips) without Chromium
  idp = await startDevIdp({ accessTokenTtlSec: ACCESS_TOKEN_TTL, onlineRefreshTokens: true });
});
afterAll(async () => {
  await browser?.close();
  await idp?.stop();
});

describe.each(["passthrough", "broker"] as const)("the Express example's /profile (%s)", (mode) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(
      { ...exampleEnv(idp, mode), PORT: "0" },
      (url) => ({ OIDC_PROXY: url }),
      { logger: silentLogger },
    );
  });
  afterAll(async () => {
    await server?.close();
  });

  it("signs in with JavaScript disabled, stays signed in past the token's lifetime, logs out", async () => {
    const { cookieAfterLogin, cookieAfterRenewal } = await sessionJourney({
      browser,
      appUrl: server.url,
      issuer: idp.issuer,
      username: "alice",
      password: "alice-password",
      accessTokenTtlSec: ACCESS_TOKEN_TTL,
    });
    if (mode === "passthrough") expect(cookieAfterRenewal).not.toBe(cookieAfterLogin);
    else expect(cookieAfterRenewal).toBe(cookieAfterLogin);
  });
});
