/**
 * The browser-session acceptance journey of issue 15, for any example app, in headless
 * Chromium with JavaScript disabled: /profile → the IdP's login page → sign in → /profile
 * shows the user → reload → wait past the access token's lifetime → reload (renewed on the
 * server) → the logout form → /profile goes to the login again. Checks on the way that no
 * token reaches the page or a cookie JavaScript could read.
 */
import { expect } from "vitest";
import type { Browser, BrowserContext, Page } from "./chromium.js";

/** A compact JWS: what every token here (IdP or broker) looks like. */
const JWT = /eyJ[\w-]{8,}\.[\w-]+\.[\w-]+/;

export interface JourneyOptions {
  browser: Browser;
  /** The app's base URL, e.g. http://127.0.0.1:4321. */
  appUrl: string;
  /** The IdP's issuer URL (its login pages live there). */
  issuer: string;
  username: string;
  password: string;
  /** How long the IdP's access tokens live: the journey waits past it. */
  accessTokenTtlSec: number;
  /** The session cookie's name. Default `oidc_auth_session`. */
  cookieName?: string;
  /** What /profile shows the username in. Default `#username`. */
  usernameSelector?: string;
  /** The logout form's button on /profile. Default `#logout`. */
  logoutSelector?: string;
}

export interface JourneyResult {
  /** The session cookie values seen: after login, and after the renewal. */
  cookieAfterLogin: string;
  cookieAfterRenewal: string;
}

async function sessionCookie(context: BrowserContext, appUrl: string, name: string) {
  const cookies = await context.cookies(appUrl);
  return cookies.filter((c) => c.name === name || c.name.startsWith(`${name}.`));
}

async function expectSignedIn(page: Page, options: JourneyOptions, selector: string) {
  expect(new URL(page.url()).origin).toBe(new URL(options.appUrl).origin);
  expect(new URL(page.url()).pathname).toBe("/profile");
  expect((await page.textContent(selector))?.trim()).toBe(options.username);
  const html = await page.content();
  expect(html).not.toMatch(JWT);
}

async function expectAtIdpLogin(page: Page, options: JourneyOptions) {
  expect(page.url().startsWith(`${options.issuer}/interaction/`)).toBe(true);
  expect(await page.isVisible("#username")).toBe(true);
}

/** Runs the journey in a fresh JavaScript-less context; fails with the step that broke. */
export async function sessionJourney(options: JourneyOptions): Promise<JourneyResult> {
  const name = options.cookieName ?? "oidc_auth_session";
  const usernameSelector = options.usernameSelector ?? "#username";
  const context = await options.browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    const profile = `${options.appUrl}/profile`;

    // A navigation without a session: through the login to the IdP's login page.
    await page.goto(profile);
    await expectAtIdpLogin(page, options);
    await page.fill("#username", options.username);
    await page.fill("#password", options.password);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(profile)),
      page.click("#dev-idp-login button[type=submit]"),
    ]);
    await expectSignedIn(page, options, usernameSelector);

    const [cookie, ...more] = await sessionCookie(context, options.appUrl, name);
    expect(more).toEqual([]);
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Lax");
    // Every cookie page JavaScript could read (none is HttpOnly=false here) holds no token.
    for (const readable of (await context.cookies()).filter((c) => !c.httpOnly)) {
      expect(readable.value).not.toMatch(JWT);
    }
    const cookieAfterLogin = cookie?.value as string;

    await page.reload();
    await expectSignedIn(page, options, usernameSelector);

    // Past the IdP access token's lifetime: the server renews the session by itself.
    await new Promise((r) => setTimeout(r, (options.accessTokenTtlSec + 1) * 1000));
    await page.reload();
    await expectSignedIn(page, options, usernameSelector);
    await page.reload();
    await expectSignedIn(page, options, usernameSelector);
    const cookieAfterRenewal = (await sessionCookie(context, options.appUrl, name))[0]
      ?.value as string;

    // The logout form (a plain POST), then the IdP's own sign-out confirmation.
    await page.click(options.logoutSelector ?? "#logout");
    if (page.url().startsWith(options.issuer) && (await page.isVisible("button[type=submit]"))) {
      await page.click("button[type=submit]");
    }
    expect(await sessionCookie(context, options.appUrl, name)).toEqual([]);
    await page.goto(profile);
    await expectAtIdpLogin(page, options);
    return { cookieAfterLogin, cookieAfterRenewal };
  } finally {
    await context.close();
  }
}
