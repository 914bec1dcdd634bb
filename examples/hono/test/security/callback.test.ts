/**
 * SECURITY.md "login": what the callback refuses. RFC 9207 `iss`, the ID token's age and
 * `at_hash`, non-Bearer token types (answers of the real dev IdP, tampered by a test server
 * standing in for its token endpoint), error answers that use up the login, and the
 * `__Host-` transaction cookie over https.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { DEMO_CLIENTS, startDevIdp } from "@oidc-auth/dev-idp";
import { base64url, decodeJwt } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack } from "../support.js";
import { loginTokens, postToken, startBrowserLogin, startStack } from "../support.js";
import type { TamperingIdp } from "./tampering-idp.js";
import { startTamperingIdp } from "./tampering-idp.js";

let stack: Stack;
let tampering: TamperingIdp;
/** The example talking to the dev IdP through the tampering server. */
let tampered: Stack;
beforeAll(async () => {
  stack = await startStack();
  tampering = await startTamperingIdp(stack.idp);
  tampered = await startStack({
    idp: stack.idp,
    env: { OIDC_DISCOVERY_URL: tampering.discoveryUrl, OIDC_ISSUER: stack.idp.issuer },
  });
});
afterAll(async () => {
  await tampered?.close();
  await tampering?.close();
  await stack?.close();
});
afterEach(() => {
  tampering.token = undefined;
  tampering.discovery = undefined;
});

const idpTokenCalls = () => stack.idp.hits.get("/token") ?? 0;

/** A browser login at `s` up to the IdP's redirect back: the callback query and the cookie. */
async function atCallback(s: Stack) {
  const { authorizationUrl, cookie } = await startBrowserLogin(s);
  const redirect = await s.idp.completeLogin(authorizationUrl, "alice", "alice-password");
  return { query: new URLSearchParams(redirect.search), cookie };
}

const callback = (s: Stack, query: URLSearchParams, cookie: string) =>
  fetch(`${s.url}/api/auth/v2/callback?${query}`, { headers: { cookie } });

/** The ID token of a token answer with `changes`, re-signed with the IdP's real key. */
async function resignIdToken(body: Record<string, unknown>, changes: Record<string, unknown>) {
  const claims = { ...decodeJwt(String(body.id_token)), ...changes };
  return { ...body, id_token: await stack.idp.signJwt(claims, { typ: "JWT" }) };
}

describe("RFC 9207: iss at the callback", () => {
  it("refuses a callback without iss when the IdP advertises it, without calling the IdP", async () => {
    const discovery = (await (await fetch(stack.idp.discoveryUrl)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    const { query, cookie } = await atCallback(stack);
    expect(query.get("iss")).toBe(stack.idp.issuer);
    query.delete("iss");
    const before = idpTokenCalls();
    await expectJsonError(await callback(stack, query, cookie), 400, "invalid_request");
    expect(idpTokenCalls()).toBe(before);
  });

  it("refuses a callback with another iss (mix-up), without calling the IdP", async () => {
    const { query, cookie } = await atCallback(stack);
    query.set("iss", "http://127.0.0.1:1/other-idp");
    const before = idpTokenCalls();
    await expectJsonError(await callback(stack, query, cookie), 400, "invalid_request");
    expect(idpTokenCalls()).toBe(before);
  });

  it("accepts a callback without iss from an IdP that does not advertise RFC 9207", async () => {
    tampering.discovery = (doc) => {
      const { authorization_response_iss_parameter_supported: _dropped, ...rest } = doc;
      return rest;
    };
    const silent = await startStack({
      idp: stack.idp,
      env: { OIDC_DISCOVERY_URL: tampering.discoveryUrl, OIDC_ISSUER: stack.idp.issuer },
    });
    try {
      const { query, cookie } = await atCallback(silent);
      query.delete("iss");
      expect((await callback(silent, query, cookie)).status).toBe(200);
    } finally {
      await silent.close();
    }
  });
});

describe("the ID token of the login", () => {
  it("accepts the IdP's answer re-signed unchanged (the tampering server itself is harmless)", async () => {
    tampering.token = (body) => resignIdToken(body, {});
    const { query, cookie } = await atCallback(tampered);
    expect((await callback(tampered, query, cookie)).status).toBe(200);
  });

  it("refuses an ID token issued longer ago than a login may last, or in the future", async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const iat of [now - 3600, now + 3600]) {
      tampering.token = (body) => resignIdToken(body, { iat, exp: now + 600 });
      const { query, cookie } = await atCallback(tampered);
      await expectJsonError(await callback(tampered, query, cookie), 400, "invalid_grant");
    }
  });

  it("refuses an at_hash that does not match the access token, accepts one that does", async () => {
    tampering.token = (body) => resignIdToken(body, { at_hash: "AAAAAAAAAAAAAAAAAAAAAA" });
    const wrong = await atCallback(tampered);
    await expectJsonError(
      await callback(tampered, wrong.query, wrong.cookie),
      400,
      "invalid_grant",
    );

    tampering.token = async (body) => {
      const digest = await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(String(body.access_token)),
      );
      const atHash = base64url.encode(new Uint8Array(digest).slice(0, 16));
      return resignIdToken(body, { at_hash: atHash });
    };
    const right = await atCallback(tampered);
    expect((await callback(tampered, right.query, right.cookie)).status).toBe(200);
  });
});

describe("token types", () => {
  it("refuses a token answer whose token_type is not Bearer, at the callback and on refresh", async () => {
    tampering.token = (body) => ({ ...body, token_type: "DPoP" });
    const { query, cookie } = await atCallback(tampered);
    await expectJsonError(await callback(tampered, query, cookie), 502, "upstream_error");

    tampering.token = undefined;
    const tokens = await loginTokens(tampered);
    tampering.token = (body) => ({ ...body, token_type: "N_A" });
    await expectJsonError(
      await postToken(tampered, { "refresh-token": tokens.refresh_token as string }),
      502,
      "upstream_error",
    );
  });
});

describe("error answers at the callback", () => {
  it("uses up the login: its code cannot complete it afterwards", async () => {
    const { query, cookie } = await atCallback(stack);
    const state = query.get("state") as string;
    const denied = new URLSearchParams({ error: "access_denied", state });
    await expectJsonError(await callback(stack, denied, cookie), 400, "access_denied");
    const before = idpTokenCalls();
    await expectJsonError(await callback(stack, query, cookie), 400, "invalid_request");
    expect(idpTokenCalls()).toBe(before);
  });
});

describe("the transaction cookie over https", () => {
  const httpsRedirect = "https://app.example.org/callback";
  let idp: DevIdp;
  let secure: Stack;
  beforeAll(async () => {
    idp = await startDevIdp({
      clients: DEMO_CLIENTS.map((c) => ({ ...c, redirectUris: [httpsRedirect] })),
    });
    secure = await startStack({ idp, env: { OIDC_REDIRECT_URIS: httpsRedirect } });
  });
  afterAll(async () => {
    await secure?.close();
    await idp?.stop();
  });

  async function httpsLogin() {
    const login = await fetch(
      `${secure.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(httpsRedirect)}`,
      { redirect: "manual" },
    );
    expect(login.status).toBe(302);
    const setCookie = login.headers.get("set-cookie") as string;
    const redirect = await idp.completeLogin(
      login.headers.get("location") as string,
      "alice",
      "alice-password",
    );
    return { setCookie, query: new URLSearchParams(redirect.search) };
  }

  it("is __Host- prefixed, Secure, Path=/ and without Domain, and works under that name", async () => {
    const { setCookie, query } = await httpsLogin();
    expect(setCookie).toMatch(/^__Host-oidc_auth_tx=[^;]+; Path=\/;/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toMatch(/Domain=/i);
    const response = await callback(secure, query, setCookie.split(";")[0] as string);
    expect(response.status).toBe(200);
    expect(response.headers.get("set-cookie")).toMatch(/^__Host-oidc_auth_tx=;.*Max-Age=0.*Secure/);
  });

  it("refuses the same transaction under the unprefixed name (a cookie a subdomain could plant)", async () => {
    const { setCookie, query } = await httpsLogin();
    const value = (setCookie.split(";")[0] as string).slice("__Host-".length);
    const before = idp.hits.get("/token") ?? 0;
    await expectJsonError(await callback(secure, query, value), 400, "invalid_request");
    expect(idp.hits.get("/token") ?? 0).toBe(before);
  });
});
