import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { MemoryBrokerStore } from "@oidc-auth/hono";
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AtRest } from "../../../packages/core/src/broker/at-rest.js";
import type { Stack } from "./support.js";
import { getWithToken, loginTokens, startStack, TEST_SECRET } from "./support.js";

const JWKS_PATH = "/api/auth/v2/.well-known/jwks.json";
const brokerEnv = (trusted = "") => ({
  OIDC_BROKER_MODE: "true",
  OIDC_BROKER_STORE_URL: "memory://",
  OIDC_BROKER_AUDIENCE: "shared-api",
  OIDC_BROKER_JWKS_PATH: JWKS_PATH,
  OIDC_TRUSTED_ISSUERS: trusted,
  OIDC_TOKEN_EXCHANGE: "true",
});

let idp: DevIdp;
let b: Stack;
let a: Stack;
const storeOfA = new MemoryBrokerStore();
/** Every request A makes to B's JWKS. */
let jwksFetchesOfB = 0;
const counting: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  if (url.endsWith(JWKS_PATH)) jwksFetchesOfB++;
  return fetch(input, init);
};

function startA() {
  return startStack({
    idp,
    env: brokerEnv(b.url),
    options: { brokerStore: storeOfA, fetch: counting },
  });
}

/** Signs with B's real private key (read from B's store), with any claims and kid. */
async function signWithKeyOfB(claims: Record<string, unknown>, kid?: string): Promise<string> {
  const store = await b.app.auth.brokerStore();
  const [record] = (await store.listSigningKeys()).sort((x, y) => y.generation - x.generation);
  if (!record) throw new Error("B has no key");
  const jwk = JSON.parse(
    (await new AtRest([TEST_SECRET], "signing-key").decrypt(record.privateKey)) as string,
  );
  const key = await importJWK(jwk, record.alg);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: record.alg, kid: kid ?? record.kid, typ: "at+jwt" })
    .sign(key);
}

beforeAll(async () => {
  idp = await startDevIdp();
  b = await startStack({ idp, env: brokerEnv() });
  a = await startA();
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await idp?.stop();
});

describe("federation between two running instances", () => {
  it("A accepts B's tokens, fetching B's keys from iss + brokerJwksPath", async () => {
    const tokens = await loginTokens(b, "bob");
    expect(decodeJwt(tokens.access_token).iss).toBe(b.url);
    const response = await getWithToken(`${a.url}/api/me`, tokens.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ preferred_username: "bob" });
    expect(jwksFetchesOfB).toBe(1);
  });

  it("refuses a token signed by B's key that claims A's issuer or a third one", async () => {
    const claims = decodeJwt((await loginTokens(b, "alice")).access_token);
    const asA = await signWithKeyOfB({ ...claims, iss: a.url });
    expect((await getWithToken(`${a.url}/api/me`, asA)).status).toBe(401);
    const asThird = await signWithKeyOfB({ ...claims, iss: "http://127.0.0.1:1" });
    const before = jwksFetchesOfB;
    expect((await getWithToken(`${a.url}/api/me`, asThird)).status).toBe(401);
    expect(jwksFetchesOfB).toBe(before);
  });

  it("refuses kid collisions: B's key under A's kid, for A's issuer or B's", async () => {
    const claims = decodeJwt((await loginTokens(b, "alice")).access_token);
    const kidOfA = decodeProtectedHeader((await loginTokens(a, "alice")).access_token)
      .kid as string;
    expect(
      (
        await getWithToken(
          `${a.url}/api/me`,
          await signWithKeyOfB({ ...claims, iss: a.url }, kidOfA),
        )
      ).status,
    ).toBe(401);
    expect(
      (await getWithToken(`${a.url}/api/me`, await signWithKeyOfB(claims, kidOfA))).status,
    ).toBe(401);
  });

  it("refuses token-exchange misuse: own tokens, actors, unknown requested types", async () => {
    const own = (await loginTokens(a, "alice")).access_token;
    const fromB = (await loginTokens(b, "bob")).access_token;
    const exchange = (form: Record<string, string>) =>
      fetch(`${a.url}/api/auth/v2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          ...form,
        }),
      });
    const type = "urn:ietf:params:oauth:token-type:access_token";
    for (const form of <Record<string, string>[]>[
      { subject_token: own, subject_token_type: type },
      { subject_token: fromB, subject_token_type: type, actor_token: own, actor_token_type: type },
      {
        subject_token: fromB,
        subject_token_type: type,
        requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
      },
      { subject_token: fromB, subject_token_type: type, scope: "openid admin" },
    ]) {
      const response = await exchange(form);
      expect(response.status).toBe(400);
      expect(["invalid_request", "invalid_scope"]).toContain(
        ((await response.json()) as { error: string }).error,
      );
    }
  });

  it("exchanges B's token for a local one whose subject cannot pass for a local user", async () => {
    const fromB = await loginTokens(b, "alice");
    const local = await loginTokens(a, "alice");
    const response = await fetch(`${a.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: fromB.access_token,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      }),
    });
    expect(response.status).toBe(200);
    const exchanged = decodeJwt(((await response.json()) as { access_token: string }).access_token);
    expect(exchanged.iss).toBe(a.url);
    expect(exchanged.sub).not.toBe(decodeJwt(local.access_token).sub);
    expect(String(exchanged.sub).startsWith(b.url)).toBe(true);
  });

  it("causes at most one JWKS fetch for a flood of random kids", async () => {
    const claims = decodeJwt((await loginTokens(b, "bob")).access_token);
    const before = jwksFetchesOfB;
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () => signWithKeyOfB(claims, crypto.randomUUID())),
    );
    const statuses = await Promise.all(
      tokens.map(async (t) => (await getWithToken(`${a.url}/api/me`, t)).status),
    );
    expect(statuses).toEqual(Array(50).fill(401));
    expect(jwksFetchesOfB - before).toBeLessThanOrEqual(1);
  });

  it("with B down and A restarted, A still accepts B's tokens from its persisted cache", async () => {
    const tokens = await loginTokens(b, "bob");
    expect(decodeProtectedHeader(tokens.access_token).kid).toBeTruthy();
    expect((await getWithToken(`${a.url}/api/me`, tokens.access_token)).status).toBe(200);
    expect((await storeOfA.getPeerJwks(b.url))?.jwks.keys.length).toBeGreaterThan(0);
    await b.app.close();
    await a.close();
    a = await startA();
    const response = await getWithToken(`${a.url}/api/me`, tokens.access_token);
    expect(response.status).toBe(200);
  });
});
