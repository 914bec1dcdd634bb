import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "./support.js";
import { getWithToken, startStack } from "./support.js";

let stack: Stack;
let valid: string;
let claims: Record<string, unknown>;
let kid: string;

/** Re-signs the valid token's claims, changed, with the IdP's real key. */
async function idpSigned(changes: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return stack.idp.signJwt({ ...claims, ...changes }, header);
}

beforeAll(async () => {
  stack = await startStack();
  valid = await stack.idp.mintAccessToken("alice", { scope: "openid profile email" });
  claims = decodeJwt(valid) as Record<string, unknown>;
  kid = decodeProtectedHeader(valid).kid as string;
});
afterAll(async () => {
  await stack?.close();
});

const required = () => `${stack.url}/api/me`;
const optional = () => `${stack.url}/api/hello`;

async function expectRefused(
  authorization: string | undefined,
  status = 401,
  error = "invalid_token",
) {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  const response = await fetch(required(), { headers });
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm=/);
  const body = (await response.json()) as Record<string, string>;
  expect(body.error).toBe(error);
  expect(body.detail).toBe(body.error_description);
  const anonymous = await fetch(optional(), { headers });
  expect(anonymous.status).toBe(200);
  expect(await anonymous.json()).toEqual({ hello: "anonymous" });
  return body;
}

describe("the guard table (required → status, optional → anonymous)", () => {
  it("accepts a valid token in both guards", async () => {
    const me = await getWithToken(required(), valid);
    expect(me.status).toBe(200);
    const body = (await me.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ preferred_username: "alice", email: "alice@example.org" });
    expect(body.roles).toEqual(expect.arrayContaining(["user", "admin", "editor", "/staff"]));
    const hello = await getWithToken(optional(), valid);
    expect(await hello.json()).toEqual({ hello: "alice" });
  });

  it("accepts the scheme in any case", async () => {
    const response = await fetch(required(), { headers: { authorization: `bEaReR ${valid}` } });
    expect(response.status).toBe(200);
  });

  it("no Authorization header: 401 with a bare Bearer challenge", async () => {
    const body = await expectRefused(undefined);
    expect(body.error_description).toMatch(/required/i);
  });

  it("a non-Bearer Authorization header: 401", async () => {
    await expectRefused(`Basic ${btoa("alice:alice-password")}`);
    await expectRefused(`Token ${valid}`);
  });

  it("two tokens or trailing junk: 401", async () => {
    await expectRefused(`Bearer ${valid} ${valid}`);
    await expectRefused(`Bearer ${valid},x`);
  });

  it("a malformed token: 401 invalid_token", async () => {
    await expectRefused("Bearer not-a-jwt");
    await expectRefused("Bearer a.b.c");
    await expectRefused(`Bearer ${valid.split(".").slice(0, 2).join(".")}.`);
    await expectRefused(`Bearer ${btoa("{").replace(/=/g, "")}.e30.sig`);
  });

  it("a bad signature (attacker key, the IdP's kid): 401", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
      .sign(privateKey);
    await expectRefused(`Bearer ${forged}`);
    const [h, p] = valid.split(".");
    await expectRefused(`Bearer ${h}.${p}.${"A".repeat(342)}`);
  });

  it("an expired token: 401", async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRefused(`Bearer ${await idpSigned({ iat: now - 7200, exp: now - 3600 })}`);
  });

  it("a wrong issuer: 401", async () => {
    await expectRefused(`Bearer ${await idpSigned({ iss: "http://127.0.0.1:1/evil" })}`);
    await expectRefused(`Bearer ${await idpSigned({ iss: `${stack.idp.issuer}/` })}`);
  });

  it("a wrong audience: 401", async () => {
    await expectRefused(
      `Bearer ${await stack.idp.mintAccessToken("alice", { audience: "another-api" })}`,
    );
    await expectRefused(`Bearer ${await idpSigned({ aud: `${stack.idp.audience}x` })}`);
  });

  it("an algorithm that is not allowed (none, HS256): 401", async () => {
    const unsecured = new UnsecuredJWT(claims).encode();
    await expectRefused(`Bearer ${unsecured}`);
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid, typ: "at+jwt" })
      .sign(new TextEncoder().encode("a-guessable-shared-secret-of-32-bytes!"));
    await expectRefused(`Bearer ${hs}`);
  });

  it("an ID token or a token of another kind: 401", async () => {
    await expectRefused(`Bearer ${await idpSigned({ at_hash: "abc" }, { typ: "JWT" })}`);
    await expectRefused(`Bearer ${await idpSigned({}, { typ: "refresh+jwt" })}`);
    await expectRefused(`Bearer ${await idpSigned({ typ: "Refresh" })}`);
  });

  it("missing required claims or claims of the wrong type: 401", async () => {
    await expectRefused(`Bearer ${await idpSigned({ sub: undefined })}`);
    await expectRefused(`Bearer ${await idpSigned({ exp: String(claims.exp) })}`);
    await expectRefused(`Bearer ${await idpSigned({ realm_access: { roles: { admin: true } } })}`);
  });

  it("an oversized token is refused before it is decoded: 401", async () => {
    await expectRefused(`Bearer ${await idpSigned({ padding: "x".repeat(9000) })}`);
  });

  it("a valid token without a required scope: 403 insufficient_scope", async () => {
    const token = await stack.idp.mintAccessToken("alice", { scope: "openid profile" });
    const response = await getWithToken(`${stack.url}/api/email-scope`, token);
    expect(response.status).toBe(403);
    expect(response.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
    expect(await response.json()).toMatchObject({ error: "insufficient_scope" });
    const withScope = await getWithToken(`${stack.url}/api/email-scope`, valid);
    expect(withScope.status).toBe(200);
  });

  it("a valid token whose flattened roles fail the constraint: 403", async () => {
    const bob = await stack.idp.mintAccessToken("bob");
    const refused = await getWithToken(`${stack.url}/api/admin`, bob);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: "access_denied" });
    const alice = await getWithToken(`${stack.url}/api/admin`, valid);
    expect(alice.status).toBe(200);
  });

  it("claims on nested paths: every key must match", async () => {
    const alice = await getWithToken(`${stack.url}/api/staff`, valid);
    expect(alice.status).toBe(200);
    const bob = await getWithToken(
      `${stack.url}/api/staff`,
      await stack.idp.mintAccessToken("bob"),
    );
    expect(bob.status).toBe(403);
    // admin in the realm but not in /staff: one key fails, so the whole constraint fails
    const notStaff = await idpSigned({ groups: ["/guests"] });
    expect((await getWithToken(`${stack.url}/api/staff`, notStaff)).status).toBe(403);
  });

  it("a __proto__ claim cannot grant a role", async () => {
    const sneaky = await stack.idp.signJwt({
      ...(decodeJwt(await stack.idp.mintAccessToken("bob")) as Record<string, unknown>),
      ["__proto__"]: { roles: ["admin"] },
    });
    expect((await getWithToken(`${stack.url}/api/admin`, sneaky)).status).toBe(403);
  });
});

describe("the IdP unreachable", () => {
  it("required answers 503 and optional anonymous when no keys are cached", async () => {
    const lonely = await startStack();
    const token = await lonely.idp.mintAccessToken("alice");
    await lonely.idp.stop();
    try {
      const response = await getWithToken(`${lonely.url}/api/me`, token);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: "temporarily_unavailable" });
      const anonymous = await getWithToken(`${lonely.url}/api/hello`, token);
      expect(await anonymous.json()).toEqual({ hello: "anonymous" });
    } finally {
      await lonely.close();
    }
  });

  it("cached keys keep verifying through an outage", async () => {
    const cached = await startStack({ env: { OIDC_JWKS_MAX_AGE_SEC: "1" } });
    const token = await cached.idp.mintAccessToken("alice");
    try {
      expect((await getWithToken(`${cached.url}/api/me`, token)).status).toBe(200);
      await cached.idp.stop();
      await new Promise((r) => setTimeout(r, 1100)); // the cached set is now stale
      expect((await getWithToken(`${cached.url}/api/me`, token)).status).toBe(200);
    } finally {
      await cached.close();
    }
  });
});
