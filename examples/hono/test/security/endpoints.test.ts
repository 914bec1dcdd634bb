/**
 * SECURITY.md "endpoints and RFC answers": methods, logout, URLs the IdP publishes, and the
 * device flow's polling rules, over HTTP through the Hono example.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack, TokenJson } from "../support.js";
import { getWithToken, loginTokens, postToken, startBrowserLogin, startStack } from "../support.js";
import type { TamperingIdp } from "./tampering-idp.js";
import { startTamperingIdp } from "./tampering-idp.js";

const BROKER_ENV = {
  OIDC_BROKER_MODE: "true",
  OIDC_BROKER_STORE_URL: "memory://",
  OIDC_BROKER_AUDIENCE: "endpoints-api",
};

let stack: Stack;
let broker: Stack;
beforeAll(async () => {
  stack = await startStack();
  broker = await startStack({ idp: stack.idp, env: BROKER_ENV });
});
afterAll(async () => {
  await broker?.close();
  await stack?.close();
});

const api = (s: Stack, path: string) => `${s.url}/api/auth/v2/${path}`;

describe("methods", () => {
  it("answers a wrong method with 405 and Allow, GET /token included", async () => {
    for (const [path, method, allow] of [
      ["token", "GET", "POST"],
      ["token", "PUT", "POST"],
      ["device", "GET", "POST"],
      ["login", "POST", "GET"],
      ["callback", "DELETE", "GET"],
      ["userinfo", "POST", "GET"],
      ["logout", "PUT", "GET, POST"],
    ] as const) {
      const response = await fetch(api(stack, path), { method, redirect: "manual" });
      expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow);
      await expectJsonError(response, 405, "invalid_request");
    }
    const jwks = await fetch(api(broker, ".well-known/jwks.json"), { method: "POST" });
    expect(jwks.headers.get("allow")).toBe("GET");
    await expectJsonError(jwks, 405);
  });
});

describe("logout", () => {
  const refresh = (s: Stack, tokens: TokenJson) =>
    postToken(s, { "refresh-token": tokens.refresh_token as string });

  it("never revokes on GET, not even with the bearer (a cross-site link or image)", async () => {
    const tokens = await loginTokens(broker);
    const viaGet = await fetch(api(broker, "logout"), {
      headers: { authorization: `Bearer ${tokens.access_token}` },
      redirect: "manual",
    });
    expect(viaGet.status).toBe(302);
    // and a cross-site form cannot send the credential: only the POST with it revokes
    const crossSite = await fetch(api(broker, "logout"), {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        Origin: "https://evil.example",
      },
      body: "post_logout_redirect_uri=",
      redirect: "manual",
    });
    expect(crossSite.status).toBe(303);
    expect((await refresh(broker, tokens)).status).toBe(200);
  });

  it("revokes on POST with the credential and answers 303, in both modes", async () => {
    const brokerTokens = await loginTokens(broker);
    const viaPost = await fetch(api(broker, "logout"), {
      method: "POST",
      headers: { authorization: `Bearer ${brokerTokens.access_token}` },
      redirect: "manual",
    });
    expect(viaPost.status).toBe(303);
    await expectJsonError(await refresh(broker, brokerTokens), 400, "invalid_grant");

    // passthrough: the sealed refresh token's IdP token is revoked at the IdP
    const tokens = await loginTokens(stack);
    const revocations = stack.idp.hits.get("/token/revocation") ?? 0;
    const passthrough = await fetch(api(stack, "logout"), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "refresh-token": tokens.refresh_token as string }),
      redirect: "manual",
    });
    expect(passthrough.status).toBe(303);
    expect(stack.idp.hits.get("/token/revocation") ?? 0).toBe(revocations + 1);
    expect((await refresh(stack, tokens)).status).toBe(400);
  });

  it("sends a state to the end_session endpoint: the caller's, or a fresh random one", async () => {
    const states = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const response = await fetch(api(stack, "logout"), { redirect: "manual" });
      const state = new URL(response.headers.get("location") as string).searchParams.get("state");
      expect(state?.length).toBeGreaterThanOrEqual(43);
      states.add(state as string);
    }
    expect(states.size).toBe(3);
    const own = await fetch(`${api(stack, "logout")}?state=my-state-123`, { redirect: "manual" });
    expect(new URL(own.headers.get("location") as string).searchParams.get("state")).toBe(
      "my-state-123",
    );
    await expectJsonError(
      await fetch(`${api(stack, "logout")}?state=${encodeURIComponent("a b")}`, {
        redirect: "manual",
      }),
      400,
      "invalid_request",
    );
  });
});

describe("URLs the IdP publishes", () => {
  let tampering: TamperingIdp;
  let tampered: Stack;
  beforeAll(async () => {
    tampering = await startTamperingIdp(stack.idp);
  });
  afterAll(async () => {
    await tampering?.close();
  });
  afterEach(async () => {
    await tampered?.close();
  });

  /** A fresh app (nothing cached) whose IdP publishes `changes` in its discovery document. */
  async function withDiscovery(changes: Record<string, unknown>) {
    tampering.discovery = (doc) => ({ ...doc, ...changes });
    tampered = await startStack({
      idp: stack.idp,
      env: { OIDC_DISCOVERY_URL: tampering.discoveryUrl, OIDC_ISSUER: stack.idp.issuer },
    });
    return tampered;
  }

  it("answers 502, never 500, when end_session_endpoint does not parse", async () => {
    const s = await withDiscovery({ end_session_endpoint: "not a url" });
    await expectJsonError(
      await fetch(api(s, "logout"), { redirect: "manual" }),
      502,
      "upstream_error",
    );
  });

  it("answers 502, never 500, when authorization_endpoint does not parse", async () => {
    const s = await withDiscovery({ authorization_endpoint: "::" });
    const login = await fetch(
      `${api(s, "login")}?redirect_uri=${encodeURIComponent(s.redirectUri)}`,
      { redirect: "manual" },
    );
    await expectJsonError(login, 502, "upstream_error");
  });

  it("answers 502, never 500, when jwks_uri does not parse (guard and login)", async () => {
    const s = await withDiscovery({ jwks_uri: "http://[not-a-host" });
    const token = await stack.idp.mintAccessToken("alice");
    await expectJsonError(await getWithToken(`${s.url}/api/me`, token), 502, "upstream_error");
    const { authorizationUrl, cookie } = await startBrowserLogin(s);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    const callback = await fetch(`${api(s, "callback")}${redirect.search}`, {
      headers: { cookie },
    });
    await expectJsonError(callback, 502, "upstream_error");
  });
});

describe("device polling", () => {
  const start = async (s: Stack) =>
    (await (await fetch(api(s, "device"), { method: "POST" })).json()) as Record<string, string>;
  const poll = (s: Stack, code: string) => postToken(s, { "device-code": code });
  const idpPolls = () => stack.idp.hits.get("/token") ?? 0;

  it("answers a poll sooner than the granted interval with slow_down, without asking the IdP", async () => {
    const device = await start(stack);
    expect(Number(device.interval)).toBeGreaterThan(0);
    await expectJsonError(
      await poll(stack, device.device_code as string),
      400,
      "authorization_pending",
    );
    const before = idpPolls();
    await expectJsonError(await poll(stack, device.device_code as string), 400, "slow_down");
    await expectJsonError(await poll(stack, device.device_code as string), 400, "slow_down");
    expect(idpPolls()).toBe(before);
  });

  it("lets a client that honours the interval (and slow_down's extra 5 s) finish the login", async () => {
    const device = await start(stack);
    const interval = Number(device.interval);
    await expectJsonError(
      await poll(stack, device.device_code as string),
      400,
      "authorization_pending",
    );
    await new Promise((r) => setTimeout(r, interval * 1000));
    await expectJsonError(
      await poll(stack, device.device_code as string),
      400,
      "authorization_pending",
    );
    await stack.idp.approveDevice(device.user_code as string, "bob", "bob-password");
    await new Promise((r) => setTimeout(r, interval * 1000));
    const done = await poll(stack, device.device_code as string);
    expect(done.status).toBe(200);
  });

  it("refuses device codes outside the IdP's alphabet locally", async () => {
    const before = idpPolls();
    for (const code of [
      "short",
      "has space in it",
      'quote"quote"quote',
      "semi;colon;code",
      "ünïcödé-device-code",
      "a".repeat(2049),
      "line\nbreak-device-code",
    ]) {
      await expectJsonError(await poll(stack, code), 400, "invalid_grant");
    }
    expect(idpPolls()).toBe(before);
  });
});
