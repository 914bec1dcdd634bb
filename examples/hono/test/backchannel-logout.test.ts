/**
 * OpenID Connect Back-Channel Logout 1.0 through the Hono example (issue 15): the dev IdP
 * (oidc-provider) posts a logout token when the user logs out at the IdP itself, and every
 * session of that IdP login ends — browser sessions and broker sessions alike, on every
 * instance sharing the store. Then the receiver's rules, with logout tokens of an issuer
 * of the test's own: signature, issuer, audience, events, no nonce, sid/sub, jti once.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../packages/drizzle/test/postgres.js";
import { createTestDatabase } from "../../../packages/drizzle/test/postgres.js";
import type { OwnIssuer, Stack } from "./support.js";
import { AppBrowser, postToken, startBrowserLogin, startOwnIssuer, startStack } from "./support.js";

const CLIENT = "oidc-auth-demo";
const EVENT = "http://schemas.openid.net/event/backchannel-logout";

let idp: DevIdp;
beforeAll(async () => {
  idp = await startDevIdp({ accessTokenTtlSec: 120 });
});
afterAll(async () => {
  await idp?.stop();
});

/** A broker login with a redirect_uri (the bearer flow) in an existing IdP browser session. */
async function bearerLogin(stack: Stack, idpBrowser: ReturnType<DevIdp["newBrowser"]>) {
  const { authorizationUrl, cookie } = await startBrowserLogin(stack);
  const back = await idp.completeLogin(authorizationUrl, "alice", undefined, {
    browser: idpBrowser,
  });
  const callback = await fetch(`${stack.url}/api/auth/v2/callback${back.search}`, {
    headers: { cookie },
  });
  expect(callback.status).toBe(200);
  return (await callback.json()) as { refresh_token: string };
}

describe("logging out at the IdP ends the app's sessions (passthrough)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ idp });
    await idp.setBackchannelLogoutUri(CLIENT, `${stack.url}/api/auth/v2/backchannel-logout`);
  });
  afterAll(async () => {
    await idp.setBackchannelLogoutUri(CLIENT, null);
    await stack?.close();
  });

  it("the next navigation goes to the login; another user's session stays", async () => {
    const alice = idp.newBrowser();
    const browser = new AppBrowser(stack);
    expect((await browser.signIn("/profile", "alice", alice)).status).toBe(200);
    const other = new AppBrowser(stack);
    expect((await other.signIn("/profile", "bob", idp.newBrowser())).status).toBe(200);

    await idp.endIdpSession(alice); // the IdP's own logout page, not the app's

    const page = await browser.navigate("/profile");
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toMatch(/^\/api\/auth\/v2\/login\?return_to=/);
    expect((await other.navigate("/profile")).status).toBe(200);
  });
});

describe("logging out at the IdP ends the app's sessions (broker, two instances on one Postgres)", () => {
  let database: TestDatabase;
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    database = await createTestDatabase();
    const env = { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: database.url };
    a = await startStack({ idp, env });
    b = await startStack({ idp, env });
    // The IdP tells instance A only; B shares the store.
    await idp.setBackchannelLogoutUri(CLIENT, `${a.url}/api/auth/v2/backchannel-logout`);
  });
  afterAll(async () => {
    await idp.setBackchannelLogoutUri(CLIENT, null);
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it("ends the cookie session on the other instance and refuses the broker refresh", async () => {
    const alice = idp.newBrowser();
    const browser = new AppBrowser(b);
    expect((await browser.signIn("/profile", "alice", alice)).status).toBe(200);
    const { refresh_token } = await bearerLogin(b, alice);
    const bob = new AppBrowser(b);
    expect((await bob.signIn("/profile", "bob", idp.newBrowser())).status).toBe(200);
    const sessionsBefore = await database.sql`select count(*)::int as n from oidc_auth_sessions`;
    expect(sessionsBefore[0]?.n).toBe(3);

    await idp.endIdpSession(alice);

    expect((await browser.navigate("/profile")).status).toBe(303);
    const refresh = await postToken(b, { "refresh-token": refresh_token });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");
    // Bob's session, of another IdP login, is untouched.
    expect((await bob.navigate("/profile")).status).toBe(200);
  });
});

describe("the back-channel logout endpoint's rules", () => {
  let own: OwnIssuer;
  let stack: Stack;
  const url = () => `${stack.url}/api/auth/v2/backchannel-logout`;
  const post = (body: string, contentType = "application/x-www-form-urlencoded") =>
    fetch(url(), { method: "POST", headers: { "content-type": contentType }, body });
  const postToken = (token: string) =>
    post(new URLSearchParams({ logout_token: token }).toString());
  const claims = (extra: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: own.issuer,
      aud: CLIENT,
      iat: now,
      jti: crypto.randomUUID(),
      sid: "idp-session-1",
      events: { [EVENT]: {} },
      ...extra,
    };
  };
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    own.sign(payload, { typ: "logout+jwt", ...header });

  beforeAll(async () => {
    own = await startOwnIssuer();
    stack = await startStack({
      idp,
      env: { OIDC_DISCOVERY_URL: own.discoveryUrl, OIDC_AUDIENCE: "api" },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await own?.close();
  });

  it("accepts a valid logout token once: 200, then 400 for the same jti", async () => {
    const token = await sign(claims());
    const first = await postToken(token);
    expect(first.status).toBe(200);
    expect(first.headers.get("cache-control")).toContain("no-store");
    const replay = await postToken(token);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe("invalid_request");
  });

  it("accepts sub alone, and the typ JWT or none", async () => {
    const { sid: _sid, ...bySub } = claims({ sub: "u-1" });
    expect((await postToken(await sign(bySub))).status).toBe(200);
    expect((await postToken(await sign(claims(), { typ: "JWT" }))).status).toBe(200);
    expect((await postToken(await sign(claims(), { typ: undefined }))).status).toBe(200);
  });

  it.each([
    ["a nonce (an ID token, not a logout token)", { nonce: "n" }],
    ["no events", { events: undefined }],
    ["events without the back-channel member", { events: { "urn:other": {} } }],
    ["the event as a string", { events: { [EVENT]: "yes" } }],
    ["another audience", { aud: "another-client" }],
    ["another issuer", { iss: "https://evil.example" }],
    ["neither sid nor sub", { sid: undefined }],
    ["no jti", { jti: undefined }],
    ["no iat", { iat: undefined }],
    ["an iat an hour old", { iat: Math.floor(Date.now() / 1000) - 3600 }],
    ["an expired exp", { exp: Math.floor(Date.now() / 1000) - 600 }],
    ["a non-string sid", { sid: 42 }],
  ])("refuses a token with %s: 400", async (_what, change) => {
    const response = await postToken(await sign(claims(change)));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
  });

  it("refuses typ at+jwt (an access token), a forged signature and garbage: 400", async () => {
    expect((await postToken(await sign(claims(), { typ: "at+jwt" }))).status).toBe(400);
    const token = await sign(claims());
    const [h, p, s] = token.split(".") as [string, string, string];
    const forged = `${h}.${p}.${s.slice(0, -4)}${s.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    expect((await postToken(forged)).status).toBe(400);
    for (const junk of ["garbage", "a.b.c", "", "x".repeat(9000)]) {
      const response = await postToken(junk);
      expect(response.status, junk.slice(0, 10)).toBe(400);
    }
    // A body past the form limit is refused before it is parsed.
    expect((await postToken("x".repeat(20_000))).status).toBe(413);
  });

  it("answers a missing token, a wrong method and a wrong body with 4xx JSON", async () => {
    expect((await post("")).status).toBe(400);
    expect((await post("{}", "application/xml")).status).toBeGreaterThanOrEqual(400);
    const get = await fetch(url());
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });
});
