import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Stack, TokenJson } from "./support.js";
import { getWithToken, loginTokens, postToken, startStack } from "./support.js";

const BROKER_ENV = {
  OIDC_BROKER_MODE: "true",
  OIDC_BROKER_STORE_URL: "memory://",
  OIDC_BROKER_AUDIENCE: "oidc-auth-example",
};

/** Fault injection for the IdP's token endpoint (a real IdP does not fail on demand). */
let idpFault: "none" | "down" | "invalid_grant" = "none";
const injecting: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  if (url.endsWith("/token") && idpFault === "down") throw new TypeError("fetch failed");
  if (url.endsWith("/token") && idpFault === "invalid_grant") {
    return Response.json(
      { error: "invalid_grant", error_description: "grant expired" },
      { status: 400 },
    );
  }
  return fetch(input, init);
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: BROKER_ENV, options: { fetch: injecting } });
});
afterAll(async () => {
  idpFault = "none";
  await stack?.close();
});

const idpTokenCalls = () => stack.idp.hits.get("/token") ?? 0;

async function publishedKeys() {
  const response = await fetch(`${stack.url}/api/auth/v2/.well-known/jwks.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get("cache-control")).toMatch(/max-age=\d+/);
  return (await response.json()) as { keys: Record<string, unknown>[] };
}

describe("broker mode: code and device flow", () => {
  it("answers the code flow with a broker token that protected routes accept", async () => {
    const tokens = await loginTokens(stack);
    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: "RS256", typ: "at+jwt" });
    const claims = decodeJwt(tokens.access_token);
    expect(claims.iss).toBe(stack.url);
    expect(claims.aud).toBe("oidc-auth-example");
    expect(claims.sub).toBe("u-alice");
    expect(claims).toMatchObject({ preferred_username: "alice", email: "alice@example.org" });
    expect(claims.roles).toEqual(expect.arrayContaining(["admin", "editor", "/staff"]));
    expect(typeof claims.jti).toBe("string");
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.refresh_token?.split(".")).toHaveLength(1);
    expect((await getWithToken(`${stack.url}/api/me`, tokens.access_token)).status).toBe(200);
    expect((await getWithToken(`${stack.url}/api/admin`, tokens.access_token)).status).toBe(200);
  });

  it("publishes keys that verify its tokens with plain jose", async () => {
    const tokens = await loginTokens(stack, "bob");
    const jwks = await publishedKeys();
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks as never), {
      issuer: stack.url,
      audience: "oidc-auth-example",
      typ: "at+jwt",
    });
    expect(payload.preferred_username).toBe("bob");
    for (const key of jwks.keys) expect(key).not.toHaveProperty("d");
  });

  it("answers the device flow with a broker token of the same lifetime", async () => {
    const device = (await (
      await fetch(`${stack.url}/api/auth/v2/device`, { method: "POST" })
    ).json()) as Record<string, string>;
    await stack.idp.approveDevice(device.user_code as string, "bob", "bob-password");
    const done = await postToken(stack, { "device-code": device.device_code as string });
    expect(done.status).toBe(200);
    const tokens = (await done.json()) as TokenJson;
    expect(tokens.expires_in).toBe(3600);
    expect(decodeJwt(tokens.access_token).iss).toBe(stack.url);
    const me = await getWithToken(`${stack.url}/api/me`, tokens.access_token);
    expect(await me.json()).toMatchObject({ preferred_username: "bob" });
  });

  it("no longer accepts IdP access tokens at the guard", async () => {
    const idpToken = await stack.idp.mintAccessToken("alice");
    expect((await getWithToken(`${stack.url}/api/me`, idpToken)).status).toBe(401);
  });

  it("answers userinfo from the session, without calling the IdP", async () => {
    const tokens = await loginTokens(stack);
    stack.idp.resetHits();
    const response = await getWithToken(`${stack.url}/api/auth/v2/userinfo`, tokens.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      username: "alice",
      first_name: "Alice",
      last_name: "Liddell",
      pw_name: "alice",
      email: "alice@example.org",
    });
    expect([...stack.idp.hits.keys()]).toEqual([]);
  });
});

describe("broker mode: refresh", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("rotates the refresh credential", async () => {
    const first = await loginTokens(stack);
    const before = idpTokenCalls();
    const response = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(response.status).toBe(200);
    const second = (await response.json()) as TokenJson;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(idpTokenCalls()).toBe(before + 1);
    const third = await postToken(stack, { refresh_token: second.refresh_token as string });
    expect(third.status).toBe(200);
  });

  it("revokes the session when a replaced credential is replayed", async () => {
    const first = await loginTokens(stack);
    const second = (await (
      await postToken(stack, { "refresh-token": first.refresh_token as string })
    ).json()) as TokenJson;
    // past the reuse grace (2 s by default) that lets concurrent refreshes share a rotation
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 5000 });
    const replay = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_grant" });
    const afterwards = await postToken(stack, { "refresh-token": second.refresh_token as string });
    expect(afterwards.status).toBe(400);
  });

  it("makes one IdP call and one new credential for 20 concurrent refreshes", async () => {
    const first = await loginTokens(stack);
    const before = idpTokenCalls();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        postToken(stack, { "refresh-token": first.refresh_token as string }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as TokenJson[];
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    expect(idpTokenCalls()).toBe(before + 1);
    const next = await postToken(stack, { "refresh-token": bodies[0]?.refresh_token as string });
    expect(next.status).toBe(200);
  });

  it("gives a retry within the grace the same answer instead of revoking", async () => {
    const first = await loginTokens(stack);
    const a = (await (
      await postToken(stack, { "refresh-token": first.refresh_token as string })
    ).json()) as TokenJson;
    const retry = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(retry.status).toBe(200);
    expect(((await retry.json()) as TokenJson).refresh_token).toBe(a.refresh_token);
  });

  it("answers 503 and keeps the session while the IdP is down", async () => {
    const first = await loginTokens(stack);
    idpFault = "down";
    try {
      const down = await postToken(stack, { "refresh-token": first.refresh_token as string });
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ error: "temporarily_unavailable" });
    } finally {
      idpFault = "none";
    }
    const later = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(later.status).toBe(200);
  });

  it("ends the session when the IdP says its refresh token is dead", async () => {
    const first = await loginTokens(stack);
    idpFault = "invalid_grant";
    try {
      const dead = await postToken(stack, { "refresh-token": first.refresh_token as string });
      expect(dead.status).toBe(400);
      expect(await dead.json()).toMatchObject({ error: "invalid_grant" });
    } finally {
      idpFault = "none";
    }
    const gone = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(gone.status).toBe(400);
  });

  it("never refreshes with an access token", async () => {
    const first = await loginTokens(stack);
    const response = await postToken(stack, { "refresh-token": first.access_token });
    expect(response.status).toBe(400);
  });
});

describe("broker mode: logout", () => {
  it("revokes the session of the bearer token, and the IdP refresh token", async () => {
    const tokens = await loginTokens(stack);
    stack.idp.resetHits();
    const response = await fetch(`${stack.url}/api/auth/v2/logout`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
      redirect: "manual",
    });
    expect(response.status).toBe(302);
    expect(stack.idp.hits.get("/token/revocation")).toBe(1);
    const refresh = await postToken(stack, { "refresh-token": tokens.refresh_token as string });
    expect(refresh.status).toBe(400);
  });

  it("revokes the session of a posted refresh credential", async () => {
    const tokens = await loginTokens(stack);
    const response = await fetch(`${stack.url}/api/auth/v2/logout`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "refresh-token": tokens.refresh_token as string }),
      redirect: "manual",
    });
    expect(response.status).toBe(302);
    expect(
      (await postToken(stack, { "refresh-token": tokens.refresh_token as string })).status,
    ).toBe(400);
  });
});

describe("broker mode: token exchange", () => {
  const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
  const ACCESS = "urn:ietf:params:oauth:token-type:access_token";
  const exchange = (form: Record<string, string>) =>
    postToken(stack, { grant_type: EXCHANGE, ...form });

  it("turns an IdP access token into a broker token", async () => {
    const subject = await stack.idp.mintAccessToken("bob", { scope: "openid profile email" });
    const response = await exchange({
      subject_token: subject,
      subject_token_type: ACCESS,
      scope: "openid email",
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.issued_token_type).toBe(ACCESS);
    expect(body.token_type).toBe("Bearer");
    expect(body.scope).toBe("openid email");
    const claims = decodeJwt(body.access_token as string);
    expect(claims).toMatchObject({ iss: stack.url, sub: "u-bob", preferred_username: "bob" });
    expect((await getWithToken(`${stack.url}/api/me`, body.access_token as string)).status).toBe(
      200,
    );
  });

  it("refuses a missing or wrong subject_token_type", async () => {
    const subject = await stack.idp.mintAccessToken("bob");
    const missing = await exchange({ subject_token: subject });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const wrong = await exchange({
      subject_token: subject,
      subject_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
    });
    expect(wrong.status).toBe(400);
  });

  it("refuses a subject of the wrong audience, expired, or from an untrusted issuer", async () => {
    const wrongAudience = await stack.idp.mintAccessToken("bob", { audience: "someone-else" });
    const expired = await stack.idp.mintAccessToken("bob", { expiresInSec: -120 });
    const foreign = await stack.idp.signJwt({
      ...decodeJwt(await stack.idp.mintAccessToken("bob")),
      iss: "https://untrusted.example.org",
    });
    for (const subject of [wrongAudience, expired, foreign, "garbage"]) {
      const response = await exchange({ subject_token: subject, subject_token_type: ACCESS });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: "invalid_grant" });
    }
  });

  it("refuses scopes beyond the subject's", async () => {
    const subject = await stack.idp.mintAccessToken("bob", { scope: "openid profile" });
    const response = await exchange({
      subject_token: subject,
      subject_token_type: ACCESS,
      scope: "openid admin",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_scope" });
  });
});

describe("broker mode: key rotation", () => {
  it("keeps tokens of the retired key valid and publishes both keys", async () => {
    const before = await loginTokens(stack);
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    const { kid } = await stack.app.auth.rotateSigningKey();
    expect(kid).not.toBe(oldKid);
    const kids = (await publishedKeys()).keys.map((k) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, kid]));
    expect((await getWithToken(`${stack.url}/api/me`, before.access_token)).status).toBe(200);
    const after = await loginTokens(stack);
    expect(decodeProtectedHeader(after.access_token).kid).toBe(kid);
  });
});

describe("broker mode: automatic key rotation", () => {
  it("starts a new key generation once the active key is older than keyRotationIntervalSec", async () => {
    const rotating = await startStack({
      idp: stack.idp,
      env: { ...BROKER_ENV, OIDC_KEY_ROTATION_INTERVAL_SEC: "60" },
    });
    try {
      const first = decodeProtectedHeader((await loginTokens(rotating)).access_token).kid;
      expect(decodeProtectedHeader((await loginTokens(rotating)).access_token).kid).toBe(first);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
      const second = await loginTokens(rotating);
      vi.useRealTimers();
      expect(decodeProtectedHeader(second.access_token).kid).not.toBe(first);
      expect((await getWithToken(`${rotating.url}/api/me`, second.access_token)).status).toBe(200);
    } finally {
      vi.useRealTimers();
      await rotating.close();
    }
  });
});
