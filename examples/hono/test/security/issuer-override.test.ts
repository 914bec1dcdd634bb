/**
 * SECURITY.md "issuer override": py-oidc-auth's `issuer` with discovery fetched from an
 * internal address of the IdP. A test server beside the dev IdP stands for that address: it
 * forwards to the dev IdP and answers discovery with its own address as `issuer` (an IdP
 * that names the host it was asked at), while the browser, the tokens and RFC 9207's `iss`
 * keep the dev IdP's public issuer, which is what `OIDC_ISSUER` configures.
 */
import { decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack } from "../support.js";
import { getWithToken, loginTokens, postToken, startBrowserLogin, startStack } from "../support.js";
import type { TamperingIdp } from "./tampering-idp.js";
import { startTamperingIdp } from "./tampering-idp.js";

type Json = Record<string, unknown>;

let stack: Stack;
let internal: TamperingIdp;
/** The issuer the internal address stands for: its discovery URL without the well-known part. */
let internalIssuer: string;
/** Names the internal address as issuer in the document it serves (as such IdPs do). */
const namesItself = (doc: Json): Json => ({ ...doc, issuer: internalIssuer });

let passthrough: Stack;
let broker: Stack;
beforeAll(async () => {
  stack = await startStack();
  internal = await startTamperingIdp(stack.idp);
  internalIssuer = internal.discoveryUrl.replace("/.well-known/openid-configuration", "");
  internal.discovery = namesItself;
  const env = { OIDC_DISCOVERY_URL: internal.discoveryUrl, OIDC_ISSUER: stack.idp.issuer };
  passthrough = await startStack({ idp: stack.idp, env });
  broker = await startStack({
    idp: stack.idp,
    env: { ...env, OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" },
  });
});
afterAll(async () => {
  await broker?.close();
  await passthrough?.close();
  await internal?.close();
  await stack?.close();
});
afterEach(() => {
  internal.discovery = namesItself;
  internal.token = undefined;
});

/** A browser login at `s` up to the IdP's redirect back: the callback query and the cookie. */
async function atCallback(s: Stack) {
  const { authorizationUrl, cookie } = await startBrowserLogin(s);
  const redirect = await s.idp.completeLogin(authorizationUrl, "alice", "alice-password");
  return { query: new URLSearchParams(redirect.search), cookie };
}

const callback = (s: Stack, query: URLSearchParams, cookie: string) =>
  fetch(`${s.url}/api/auth/v2/callback?${query}`, { headers: { cookie } });

describe("issuer overriding the discovery document's", () => {
  it("the internal discovery document really names another issuer than the tokens", async () => {
    const doc = (await (await fetch(internal.discoveryUrl)).json()) as Json;
    expect(doc.issuer).toBe(internalIssuer);
    expect(doc.issuer).not.toBe(stack.idp.issuer);
    const tokens = await loginTokens(passthrough);
    expect(decodeJwt(tokens.access_token).iss).toBe(stack.idp.issuer);
  });

  it("logs in, guards and refreshes in passthrough mode (tokens of the configured issuer)", async () => {
    const { query, cookie } = await atCallback(passthrough);
    expect(query.get("iss")).toBe(stack.idp.issuer);
    const answer = await callback(passthrough, query, cookie);
    expect(answer.status).toBe(200);
    const tokens = (await answer.json()) as { access_token: string; refresh_token: string };
    const me = await getWithToken(`${passthrough.url}/api/me`, tokens.access_token);
    expect(me.status).toBe(200);
    const refreshed = await postToken(passthrough, { "refresh-token": tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(internal.tokenCalls).toBeGreaterThan(0);
  });

  it("logs in, guards and refreshes in broker mode", async () => {
    const tokens = await loginTokens(broker);
    expect((await getWithToken(`${broker.url}/api/me`, tokens.access_token)).status).toBe(200);
    const refreshed = await postToken(broker, { "refresh-token": tokens.refresh_token as string });
    expect(refreshed.status).toBe(200);
  });

  it("compares RFC 9207 iss at the callback with the configured issuer, not the document's", async () => {
    const { query, cookie } = await atCallback(passthrough);
    query.set("iss", internalIssuer);
    const before = internal.tokenCalls;
    await expectJsonError(await callback(passthrough, query, cookie), 400, "invalid_request");
    expect(internal.tokenCalls).toBe(before);
  });

  it("refuses an ID token at the callback whose iss is the document's issuer", async () => {
    internal.token = async (body) => ({
      ...body,
      id_token: await stack.idp.signJwt(
        { ...decodeJwt(String(body.id_token)), iss: internalIssuer },
        { typ: "JWT" },
      ),
    });
    const { query, cookie } = await atCallback(passthrough);
    await expectJsonError(await callback(passthrough, query, cookie), 400, "invalid_grant");
  });

  it("refuses an access token of the document's issuer on a guarded route", async () => {
    const tokens = await loginTokens(passthrough);
    const claims = { ...decodeJwt(tokens.access_token), iss: internalIssuer };
    const forged = await stack.idp.signJwt(claims, { typ: "at+jwt" });
    await expectJsonError(await getWithToken(`${passthrough.url}/api/me`, forged), 401);
  });

  it("still refuses a discovery document naming a third issuer (502, nothing served)", async () => {
    internal.discovery = (doc) => ({ ...doc, issuer: "http://127.0.0.1:1/elsewhere" });
    const fresh = await startStack({
      idp: stack.idp,
      env: { OIDC_DISCOVERY_URL: internal.discoveryUrl, OIDC_ISSUER: stack.idp.issuer },
    });
    try {
      const login = await fetch(
        `${fresh.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(fresh.redirectUri)}`,
        { redirect: "manual" },
      );
      await expectJsonError(login, 502, "upstream_error");
    } finally {
      await fresh.close();
    }
  });

  it("without the override the document's issuer is expected, and the public callback is refused", async () => {
    const plain = await startStack({
      idp: stack.idp,
      env: { OIDC_DISCOVERY_URL: internal.discoveryUrl },
    });
    try {
      const { query, cookie } = await atCallback(plain);
      await expectJsonError(await callback(plain, query, cookie), 400, "invalid_request");
    } finally {
      await plain.close();
    }
  });
});
