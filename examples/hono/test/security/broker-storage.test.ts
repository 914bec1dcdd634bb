/**
 * SECURITY.md "Broker" and "Storage": what the broker refuses, and what survives a
 * restart (removed peer keys stay removed; old secrets still open old rows).
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { MemoryBrokerStore } from "@oidc-auth/hono";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AtRest } from "../../../../packages/core/src/broker/at-rest.js";
import type { TokenJson } from "../support.js";
import { getWithToken, loginTokens, postToken, startStack } from "../support.js";

const JWKS_PATH = "/api/auth/v2/.well-known/jwks.json";
const SECRET_A = "secret-A-secret-A-secret-A-secret-A-0001";
const SECRET_B = "secret-B-secret-B-secret-B-secret-B-0002";

let idp: DevIdp;
beforeAll(async () => {
  idp = await startDevIdp();
});
afterAll(async () => {
  await idp?.stop();
});

/**
 * B restarts on the same port; a pooled keep-alive socket to the old B may fail once with
 * "other side closed". Retrying once is what any client does; it hides nothing here.
 */
const retryOnce: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch {
    return fetch(input, init);
  }
};

const brokerEnv = (extra: Record<string, string> = {}) => ({
  OIDC_BROKER_MODE: "true",
  OIDC_BROKER_AUDIENCE: "shared-api",
  OIDC_BROKER_JWKS_PATH: JWKS_PATH,
  ...extra,
});

describe("federation: removed peer keys stop working, also after a restart", () => {
  it("refuses a peer token once the peer no longer publishes its key", async () => {
    const storeOfB = new MemoryBrokerStore();
    const storeOfA = new MemoryBrokerStore();
    let b = await startStack({
      idp,
      env: brokerEnv({ PORT: "0" }),
      options: { brokerStore: storeOfB },
    });
    const bUrl = b.url;
    const startA = () =>
      startStack({
        idp,
        env: brokerEnv({ OIDC_TRUSTED_ISSUERS: bUrl, OIDC_JWKS_MAX_AGE_SEC: "1" }),
        options: { brokerStore: storeOfA, fetch: retryOnce },
      });
    let a = await startA();
    try {
      const old = await loginTokens(b, "bob");
      expect((await getWithToken(`${a.url}/api/me`, old.access_token)).status).toBe(200);
      // B rotates and deletes its old key; a restarted B publishes only the new one
      await b.app.auth.rotateSigningKey();
      await storeOfB.deleteSigningKeys(Math.floor(Date.now() / 1000) + 10);
      await b.close();
      b = await startStack({
        idp,
        env: brokerEnv({ PORT: String(new URL(bUrl).port) }),
        options: { brokerStore: storeOfB },
      });
      const published = (await (await retryOnce(`${bUrl}${JWKS_PATH}`)).json()) as {
        keys: unknown[];
      };
      expect(published.keys).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 1100)); // A's cached copy of B's keys is now stale
      expect((await getWithToken(`${a.url}/api/me`, old.access_token)).status).toBe(401);
      const fresh = await loginTokens(b, "bob");
      expect((await getWithToken(`${a.url}/api/me`, fresh.access_token)).status).toBe(200);
      // A restarts while B is down: its persisted copy no longer has the removed key
      await b.close();
      await a.close();
      a = await startA();
      expect((await getWithToken(`${a.url}/api/me`, old.access_token)).status).toBe(401);
      expect((await getWithToken(`${a.url}/api/me`, fresh.access_token)).status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("credentials are not interchangeable", () => {
  it("a peer's token or an access token never refreshes", async () => {
    const b = await startStack({ idp, env: brokerEnv({ OIDC_BROKER_STORE_URL: "memory://" }) });
    const a = await startStack({
      idp,
      env: brokerEnv({ OIDC_BROKER_STORE_URL: "memory://", OIDC_TRUSTED_ISSUERS: b.url }),
    });
    try {
      const fromB = await loginTokens(b);
      const fromA = await loginTokens(a);
      for (const credential of [
        fromB.access_token,
        fromB.refresh_token as string,
        fromA.access_token,
      ]) {
        const response = await postToken(a, { "refresh-token": credential });
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ error: "invalid_grant" });
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("minted tokens carry email_verified beside email, and a subject that is the IdP's", async () => {
    const s = await startStack({ idp, env: brokerEnv({ OIDC_BROKER_STORE_URL: "memory://" }) });
    try {
      const claims = decodeJwt((await loginTokens(s, "alice")).access_token);
      expect(claims.email).toBe("alice@example.org");
      expect(typeof claims.email_verified).toBe("boolean");
      expect(claims.sub).toBe("u-alice");
      expect(claims.sub).not.toBe(claims.preferred_username);
    } finally {
      await s.close();
    }
  });
});

/** Logs in once on an instance sealing with SECRET_A, then stops that instance. */
async function loginWithSecretA(store: MemoryBrokerStore): Promise<TokenJson> {
  const first = await startStack({
    idp,
    env: brokerEnv({ OIDC_SECRET: SECRET_A }),
    options: { brokerStore: store },
  });
  try {
    return await loginTokens(first);
  } finally {
    await first.close();
  }
}

describe("secret rotation", () => {
  it("opens rows sealed with an old secret and seals new ones with the new secret", async () => {
    const store = new MemoryBrokerStore();
    const tokens = await loginWithSecretA(store);
    const second = await startStack({
      idp,
      env: brokerEnv({ OIDC_SECRET: `${SECRET_B},${SECRET_A}` }),
      options: { brokerStore: store },
    });
    try {
      // the signing key (sealed with A) still signs; the IdP refresh token (sealed with A) still refreshes
      expect((await getWithToken(`${second.url}/api/me`, tokens.access_token)).status).toBe(401); // other issuer URL
      const refreshed = await postToken(second, {
        "refresh-token": tokens.refresh_token as string,
      });
      expect(refreshed.status).toBe(200);
      const sid = decodeJwt(((await refreshed.json()) as TokenJson).access_token).sid as string;
      const row = await store.getSession(sid);
      expect(
        await new AtRest([SECRET_B], "idp-refresh-token").decrypt(row?.idpRefreshToken as string),
      ).toBeTruthy();
      expect(
        await new AtRest([SECRET_A], "idp-refresh-token").decrypt(row?.idpRefreshToken as string),
      ).toBeUndefined();
    } finally {
      await second.close();
    }
  });

  it("refuses to use rows when no configured secret opens them (503, nothing lost)", async () => {
    const store = new MemoryBrokerStore();
    const tokens = await loginWithSecretA(store);
    const wrong = await startStack({
      idp,
      env: brokerEnv({ OIDC_SECRET: SECRET_B }),
      options: { brokerStore: store },
    });
    try {
      const response = await postToken(wrong, { "refresh-token": tokens.refresh_token as string });
      expect(response.status).toBe(503);
      expect(JSON.stringify(await response.json())).not.toMatch(/secret|decrypt/i);
    } finally {
      await wrong.close();
    }
    const right = await startStack({
      idp,
      env: brokerEnv({ OIDC_SECRET: SECRET_A }),
      options: { brokerStore: store },
    });
    try {
      expect(
        (await postToken(right, { "refresh-token": tokens.refresh_token as string })).status,
      ).toBe(200);
    } finally {
      await right.close();
    }
  });
});
