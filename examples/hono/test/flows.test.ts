import { decodeJwt, decodeProtectedHeader } from "jose";
import { calculatePKCECodeChallenge, generateRandomCodeVerifier } from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack, TokenJson } from "./support.js";
import { browserLogin, getWithToken, loginTokens, postToken, startStack } from "./support.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

function expectTokenAnswer(body: TokenJson) {
  const now = Math.floor(Date.now() / 1000);
  expect(body.token_type).toBe("Bearer");
  expect(typeof body.access_token).toBe("string");
  expect(body.expires_in).toBeGreaterThan(0);
  expect(Math.abs(body.expires - (now + body.expires_in))).toBeLessThanOrEqual(2);
  expect(typeof body.refresh_token).toBe("string");
  expect(body.refresh_expires).toBeGreaterThan(now);
  expect(body.scope.split(" ")).toEqual(expect.arrayContaining(["openid", "profile", "email"]));
}

describe("authorization code + PKCE through the Hono example", () => {
  it("logs in through the IdP and answers the token at the callback", async () => {
    const response = await browserLogin(stack);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("set-cookie")).toMatch(/oidc_auth_tx=;.*Max-Age=0/);
    const body = (await response.json()) as TokenJson;
    expectTokenAnswer(body);
    expect(decodeProtectedHeader(body.access_token).typ).toBe("at+jwt");
    expect(decodeJwt(body.access_token).aud).toBe(stack.idp.audience);
  });

  it("sends PKCE S256, state and nonce to the IdP, and no verifier in the URL", async () => {
    const response = await fetch(
      `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(stack.redirectUri)}&prompt=login`,
      { redirect: "manual" },
    );
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") as string);
    expect(location.origin).toBe(stack.idp.issuer);
    const q = location.searchParams;
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("state")?.length).toBeGreaterThanOrEqual(32);
    expect(q.get("nonce")?.length).toBeGreaterThanOrEqual(32);
    expect(q.get("prompt")).toBe("login");
    expect(q.get("scope")).toBe("openid profile email offline_access");
    expect(q.get("state")).not.toContain("|");
    const cookie = response.headers.get("set-cookie") as string;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
  });

  it("leaves out offline_access when asked to", async () => {
    const response = await fetch(
      `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(stack.redirectUri)}&offline_access=false&scope=profile`,
      { redirect: "manual" },
    );
    const q = new URL(response.headers.get("location") as string).searchParams;
    expect(q.get("scope")).toBe("openid profile");
  });

  it("exchanges the code of a native client that keeps its own verifier", async () => {
    const verifier = generateRandomCodeVerifier();
    const challenge = await calculatePKCECodeChallenge(verifier);
    const redirectUri = "http://127.0.0.1:49152/callback";
    const login = await fetch(
      `${stack.url}/api/auth/v2/login?${new URLSearchParams({
        redirect_uri: redirectUri,
        code_challenge: challenge,
        code_challenge_method: "S256",
      })}`,
      { redirect: "manual" },
    );
    expect(login.status).toBe(302);
    expect(login.headers.get("set-cookie")).toBeNull();
    const authorizationUrl = login.headers.get("location") as string;
    expect(new URL(authorizationUrl).searchParams.get("code_challenge")).toBe(challenge);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "bob", "bob-password");
    const code = redirect.searchParams.get("code") as string;
    const answer = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as TokenJson;
    expectTokenAnswer(body);
    expect(decodeJwt(body.access_token).preferred_username).toBe("bob");
    // the same verifier a second time: the login is used up
    const again = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("refreshes with refresh-token and with refresh_token", async () => {
    const first = await loginTokens(stack);
    const dashed = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(dashed.status).toBe(200);
    const second = (await dashed.json()) as TokenJson;
    expectTokenAnswer(second);
    expect(second.access_token).not.toBe(first.access_token);
    const underscored = await postToken(stack, {
      grant_type: "refresh_token",
      refresh_token: second.refresh_token as string,
    });
    expect(underscored.status).toBe(200);
    expectTokenAnswer((await underscored.json()) as TokenJson);
  });

  it("answers an unknown refresh token with a 400 invalid_grant", async () => {
    const response = await postToken(stack, { "refresh-token": "not-a-refresh-token" });
    expect(response.status).toBe(400);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toMatchObject({ error: "invalid_grant" });
  });
});

describe("device flow", () => {
  // start → authorization_pending → approval → token: test-support/conformance.ts, which
  // examples/hono/test/conformance.test.ts runs against this example.

  it("reports access_denied when the user denies", async () => {
    const device = (await (
      await fetch(`${stack.url}/api/auth/v2/device`, { method: "POST" })
    ).json()) as Record<string, string>;
    await stack.idp.approveDevice(String(device.user_code), "bob", "bob-password", { deny: true });
    const denied = await postToken(stack, { "device-code": String(device.device_code) });
    expect(denied.status).toBe(400);
    expect(await denied.json()).toMatchObject({ error: "access_denied" });
  });

  it("reports expired_token for an unknown device code", async () => {
    const response = await postToken(stack, { "device-code": "no-such-device-code" });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Record<string, unknown>;
    expect(["invalid_grant", "expired_token"]).toContain(body.error);
  });
});

describe("userinfo", () => {
  it("answers username, first_name, last_name, pw_name and email for the bearer", async () => {
    const tokens = await loginTokens(stack, "alice");
    const response = await getWithToken(`${stack.url}/api/auth/v2/userinfo`, tokens.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      username: "alice",
      first_name: "Alice",
      last_name: "Liddell",
      pw_name: "alice",
      email: "alice@example.org",
    });
  });

  it("refuses a request without a token", async () => {
    const response = await fetch(`${stack.url}/api/auth/v2/userinfo`);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });
});

describe("logout", () => {
  it("redirects to the IdP's end_session endpoint with client_id and the target", async () => {
    const target = `${stack.url}/`;
    const response = await fetch(
      `${stack.url}/api/auth/v2/logout?post_logout_redirect_uri=${encodeURIComponent(target)}`,
      { redirect: "manual" },
    );
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") as string);
    const discovery = (await (await fetch(stack.idp.discoveryUrl)).json()) as Record<
      string,
      string
    >;
    expect(`${location.origin}${location.pathname}`).toBe(discovery.end_session_endpoint);
    expect(location.searchParams.get("client_id")).toBe("oidc-auth-demo");
    expect(location.searchParams.get("post_logout_redirect_uri")).toBe(target);
    // and the IdP really sends the browser back there
    const back = await stack.idp.completeLogout(location.href);
    expect(back.href.startsWith(target)).toBe(true);
  });

  it("refuses a post_logout_redirect_uri that is not allowed", async () => {
    const response = await fetch(
      `${stack.url}/api/auth/v2/logout?post_logout_redirect_uri=${encodeURIComponent("https://evil.example/")}`,
      { redirect: "manual" },
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_request" });
  });
});

describe("logout at an IdP without end_session_endpoint", () => {
  let bare: Stack;
  beforeAll(async () => {
    // The dev IdP always has RP-initiated logout; hide it from discovery to stand in for
    // an IdP that has none (a fault a real IdP of that kind produces by omission).
    const withoutEndSession: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input instanceof Request ? input.url : input).endsWith("/openid-configuration")) {
        return response;
      }
      const { end_session_endpoint: _dropped, ...rest } = (await response.json()) as Record<
        string,
        unknown
      >;
      return Response.json(rest);
    };
    bare = await startStack({ idp: stack.idp, options: { fetch: withoutEndSession } });
  });
  afterAll(async () => {
    await bare?.close();
  });

  it("redirects to the given target", async () => {
    const target = `${bare.url}/bye`;
    const response = await fetch(
      `${bare.url}/api/auth/v2/logout?post_logout_redirect_uri=${encodeURIComponent(target)}`,
      { redirect: "manual" },
    );
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(target);
  });

  it("redirects to / without a target", async () => {
    const response = await fetch(`${bare.url}/api/auth/v2/logout`, { redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(`${bare.url}/`);
  });
});
