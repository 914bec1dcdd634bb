import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { CryptoKey, JWK } from "jose";
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { IDToken, OIDCAuthOptions } from "../src/index.js";
import {
  MemoryBrokerStore,
  OIDCAuth,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "../src/index.js";
import type { VerifiedToken, VerifyUncached } from "../src/token-cache.js";
import { TokenCache } from "../src/token-cache.js";

let idp: DevIdp;
let alice: string;

function idpOptions(extra: OIDCAuthOptions = {}): OIDCAuthOptions {
  return {
    clientId: "oidc-auth-demo",
    clientSecret: "oidc-auth-demo-secret",
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    logger: silentLogger,
    ...extra,
  };
}

function request(token: string): Request {
  return new Request("http://app.test/api/me", { headers: { authorization: `Bearer ${token}` } });
}

/** What the guard answers: the claims, or the status and error code it refuses with. */
async function outcome(auth: OIDCAuth, token: string): Promise<unknown> {
  try {
    return { ok: (await auth.authenticate(request(token))).sub };
  } catch (err) {
    if (!(err instanceof OIDCAuthError)) throw err;
    return { status: err.status, error: err.error, message: err.message };
  }
}

/** Hit and miss counts since `before`. */
function countsSince(auth: OIDCAuth, before: { hits: number; misses: number }) {
  const now = auth.tokenCacheStats;
  return { hits: now.hits - before.hits, misses: now.misses - before.misses };
}

/**
 * An issuer of our own: Ed25519 keys published as a JWKS on 127.0.0.1 (the list can be
 * changed while it runs), counting its JWKS requests.
 */
async function startKeyServer() {
  const keys = new Map<string, { privateKey: CryptoKey; jwk: JWK }>();
  const published = new Set<string>();
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [...published].map((kid) => keys.get(kid)?.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    get fetches() {
      return fetches;
    },
    async addKey(kid: string, publish = true) {
      const { privateKey, publicKey } = await generateKeyPair("EdDSA");
      keys.set(kid, { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "EdDSA" } });
      if (publish) published.add(kid);
    },
    unpublish(kid: string) {
      published.delete(kid);
    },
    sign(kid: string, claims: Record<string, unknown> = {}): Promise<string> {
      const key = keys.get(kid);
      if (!key) throw new Error(`no key ${kid}`);
      const t = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: "u-carol", iat: t, exp: t + 300, ...claims })
        .setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid })
        .setIssuer(issuer)
        .sign(key.privateKey);
    },
    options(extra: OIDCAuthOptions = {}): OIDCAuthOptions {
      return { issuer, jwksUri: `${issuer}/jwks`, logger: silentLogger, ...extra };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

beforeAll(async () => {
  idp = await startDevIdp();
  alice = await idp.mintAccessToken("alice", { scope: "openid profile email" });
});

afterAll(async () => {
  await idp?.stop();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("the verified-token cache of the guard", () => {
  it("verifies a token once and answers its repeats from the cache", async () => {
    const auth = new OIDCAuth(idpOptions());
    const first = await auth.authenticate(request(alice));
    expect(auth.tokenCacheStats).toMatchObject({ size: 1, hits: 0, misses: 1 });
    const second = await auth.authenticate(request(alice));
    expect(auth.tokenCacheStats).toMatchObject({ size: 1, hits: 1, misses: 1 });
    expect(second).toEqual(first);
    expect(second.roles).toEqual(["user", "admin", "editor", "/staff"]);
  });

  it("answers the IdP's tokens from the cache with the IdP stopped", async () => {
    const lonely = await startDevIdp();
    const auth = new OIDCAuth({ ...idpOptions(), discoveryUrl: lonely.discoveryUrl });
    const token = await lonely.mintAccessToken("bob");
    expect((await auth.authenticate(request(token))).sub).toBe("u-bob");
    await lonely.stop();
    expect((await auth.authenticate(request(token))).sub).toBe("u-bob");
    expect(auth.tokenCacheStats).toMatchObject({ hits: 1, misses: 1 });
  });

  it("hands out a frozen token: no caller can change what the next request gets", async () => {
    const auth = new OIDCAuth(idpOptions());
    const token = await auth.authenticate(request(alice));
    expect(() => {
      (token as { sub: string }).sub = "u-mallory";
    }).toThrow(TypeError);
    expect(() => token.roles.push("superuser")).toThrow(TypeError);
    expect(() => {
      ((token.realm_access as { roles: string[] }).roles as string[]).push("superuser");
    }).toThrow(TypeError);
    const again = await auth.authenticate(request(alice));
    expect(again.sub).toBe("u-alice");
    expect(again.roles).not.toContain("superuser");
  });

  it("is shared by the guard and verifyToken()", async () => {
    const auth = new OIDCAuth(idpOptions());
    await auth.verifyToken(alice);
    const before = auth.tokenCacheStats;
    await auth.authenticate(request(alice));
    expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });
  });

  it("still checks scopes and claim constraints on every request", async () => {
    const auth = new OIDCAuth(idpOptions());
    await auth.authenticate(request(alice));
    const before = auth.tokenCacheStats;
    await expect(auth.authenticate(request(alice), { scopes: "admin" })).rejects.toMatchObject({
      status: 403,
      error: "insufficient_scope",
    });
    await expect(
      auth.authenticate(request(alice), { claims: { roles: ["auditor"] } }),
    ).rejects.toMatchObject({ status: 403 });
    expect(await auth.authenticate(request(alice), { claims: { roles: ["admin"] } })).toMatchObject(
      { sub: "u-alice" },
    );
    expect(countsSince(auth, before)).toEqual({ hits: 3, misses: 0 });
  });

  it("never stores a failed verification", async () => {
    const auth = new OIDCAuth(idpOptions());
    const claims = decodeJwt(alice);
    const wrongAudience = await idp.signJwt({ ...claims, aud: "another-api" });
    for (let i = 0; i < 3; i++) {
      expect(await outcome(auth, wrongAudience)).toMatchObject({ status: 401 });
    }
    expect(auth.tokenCacheStats).toMatchObject({ size: 0, hits: 0, misses: 3 });
  });

  it("shares one verification among concurrent requests with the same new token", async () => {
    const auth = new OIDCAuth(idpOptions());
    await auth.authenticate(request(await idp.mintAccessToken("bob"))); // discovery and keys
    const token = await idp.mintAccessToken("alice");
    const before = auth.tokenCacheStats;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => auth.authenticate(request(token))),
    );
    expect(answers.every((a) => a.sub === "u-alice")).toBe(true);
    expect(countsSince(auth, before)).toEqual({ hits: 0, misses: 1 });
  });

  it("answers every other form of the Authorization header exactly as without a cache", async () => {
    const cached = new OIDCAuth(idpOptions());
    const uncached = new OIDCAuth(idpOptions({ tokenCacheSize: 0 }));
    await cached.authenticate(request(alice));
    const headers = [
      `bearer ${alice}`,
      `BEARER ${alice}`,
      `Bearer  ${alice}`,
      `Bearer ${alice} `,
      `Bearer ${alice} ${alice}`,
      `Bearer ${alice},x`,
      `Bearer\t${alice}`,
      `Basic ${alice}`,
      `Bearer ${alice}x`,
      `Bearer ${alice.slice(0, -1)}`,
    ];
    for (const header of headers) {
      const answer = async (auth: OIDCAuth) => {
        try {
          const token = await auth.authenticate(
            new Request("http://app.test/api/me", { headers: { authorization: header } }),
          );
          return { ok: token.sub };
        } catch (err) {
          if (!(err instanceof OIDCAuthError)) throw err;
          return { status: err.status, error: err.error };
        }
      };
      expect(await answer(cached), header.slice(0, 12)).toEqual(await answer(uncached));
    }
  });

  it("is disabled by tokenCacheSize 0", async () => {
    const auth = new OIDCAuth(idpOptions({ tokenCacheSize: 0 }));
    await auth.authenticate(request(alice));
    await auth.authenticate(request(alice));
    expect(auth.tokenCacheStats).toMatchObject({ size: 0, capacity: 0, hits: 0 });
  });

  it("takes tokenCacheSize from OIDC_TOKEN_CACHE_SIZE and refuses impossible sizes", () => {
    const base = {
      discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
      audience: "api",
      logger: silentLogger,
    };
    const options = optionsFromEnv({ OIDC_TOKEN_CACHE_SIZE: "250" });
    expect(new OIDCAuth({ ...options, ...base }).tokenCacheStats.capacity).toBe(250);
    expect(new OIDCAuth(base).tokenCacheStats.capacity).toBe(10_000);
    expect(() => new OIDCAuth({ ...base, tokenCacheSize: -1 })).toThrow(/tokenCacheSize/);
    expect(() => new OIDCAuth({ ...base, tokenCacheSize: Number.NaN })).toThrow(/tokenCacheSize/);
  });
});

describe("expiry of cached tokens", () => {
  /**
   * Walks the clock across the end of the token's life and compares, at every step, the
   * answer of a guard that cached the token with a guard that has no cache.
   */
  async function expectSameAnswersAsUncached(
    tolerance: number,
    lifetimeSec: number,
  ): Promise<number> {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      const start = Date.now();
      vi.useFakeTimers({ toFake: ["Date"], now: start });
      const t = Math.floor(start / 1000);
      const token = await keys.sign("k1", { iat: t, exp: t + lifetimeSec });
      const cached = new OIDCAuth(keys.options({ clockToleranceSec: tolerance }));
      const uncached = new OIDCAuth(
        keys.options({ clockToleranceSec: tolerance, tokenCacheSize: 0 }),
      );
      expect(await outcome(cached, token)).toEqual({ ok: "u-carol" });
      expect(await outcome(uncached, token)).toEqual({ ok: "u-carol" });
      const end = Math.ceil(t + lifetimeSec + tolerance) * 1000;
      let accepted = 0;
      for (let ms = end - 2500; ms <= end + 1500; ms += 250) {
        for (const offset of [-1, 0, 1]) {
          vi.setSystemTime(ms + offset);
          const expected = await outcome(uncached, token);
          expect(await outcome(cached, token), `at ${ms + offset - end} ms from the end`).toEqual(
            expected,
          );
          if ((expected as { ok?: string }).ok) accepted++;
        }
      }
      return accepted;
    } finally {
      vi.useRealTimers();
      await keys.close();
    }
  }

  it("refuses a cached token exactly when an uncached one is refused (no tolerance)", async () => {
    expect(await expectSameAnswersAsUncached(0, 60)).toBeGreaterThan(0);
  });

  it("applies the clock tolerance exactly as the verifier does", async () => {
    expect(await expectSameAnswersAsUncached(30, 60)).toBeGreaterThan(0);
    expect(await expectSameAnswersAsUncached(7, 45)).toBeGreaterThan(0);
  });

  it("answers a token from the cache until its last valid millisecond", async () => {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
      const t = Math.floor(Date.now() / 1000);
      const token = await keys.sign("k1", { iat: t, exp: t + 60 });
      const auth = new OIDCAuth(keys.options({ clockToleranceSec: 0, jwksMaxAgeSec: 3600 }));
      await auth.authenticate(request(token));
      vi.setSystemTime((t + 60) * 1000 - 1);
      const before = auth.tokenCacheStats;
      expect((await auth.authenticate(request(token))).sub).toBe("u-carol");
      expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });
      vi.setSystemTime((t + 60) * 1000);
      expect(await outcome(auth, token)).toMatchObject({ status: 401, error: "invalid_token" });
      expect(auth.tokenCacheStats.size).toBe(0);
    } finally {
      vi.useRealTimers();
      await keys.close();
    }
  });

  it("keeps an entry no longer than jwksMaxAgeSec, whatever the token's exp", async () => {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
      const token = await keys.sign("k1", { exp: Math.floor(Date.now() / 1000) + 3600 });
      const auth = new OIDCAuth(keys.options({ jwksMaxAgeSec: 60 }));
      await auth.authenticate(request(token));
      vi.setSystemTime(Date.now() + 59_000);
      let before = auth.tokenCacheStats;
      await auth.authenticate(request(token));
      expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });
      vi.setSystemTime(Date.now() + 1_000);
      before = auth.tokenCacheStats;
      await auth.authenticate(request(token));
      expect(countsSince(auth, before)).toEqual({ hits: 0, misses: 1 });
    } finally {
      vi.useRealTimers();
      await keys.close();
    }
  });
});

describe("the bound on memory", () => {
  it("holds at most tokenCacheSize entries under a flood of 50,000 distinct valid tokens", async () => {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      const auth = new OIDCAuth(keys.options());
      const total = 50_000;
      const batch = 1_000;
      let last: string[] = [];
      for (let i = 0; i < total; i += batch) {
        last = await Promise.all(
          Array.from({ length: batch }, (_, j) => keys.sign("k1", { jti: `t-${i + j}` })),
        );
        const answers = await Promise.all(last.map((t) => auth.authenticate(request(t))));
        expect(answers.every((a) => a.sub === "u-carol")).toBe(true);
        expect(auth.tokenCacheStats.size).toBeLessThanOrEqual(10_000);
      }
      expect(auth.tokenCacheStats).toMatchObject({ size: 10_000, misses: total, hits: 0 });
      const before = auth.tokenCacheStats;
      await Promise.all(last.map((t) => auth.authenticate(request(t))));
      expect(countsSince(auth, before)).toEqual({ hits: batch, misses: 0 });
    } finally {
      await keys.close();
    }
  }, 120_000);

  it("evicts the least recently used token, not the oldest one", async () => {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      const auth = new OIDCAuth(keys.options({ tokenCacheSize: 2 }));
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((jti) => keys.sign("k1", { jti })));
      for (const token of [a, b, a, c]) await auth.authenticate(request(token as string));
      expect(auth.tokenCacheStats).toMatchObject({ size: 2, hits: 1, misses: 3 });
      let before = auth.tokenCacheStats;
      await auth.authenticate(request(a as string));
      expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });
      before = auth.tokenCacheStats;
      await auth.authenticate(request(b as string));
      expect(countsSince(auth, before)).toEqual({ hits: 0, misses: 1 });
    } finally {
      await keys.close();
    }
  });
});

describe("invalidation when a key is removed", () => {
  it("drops the IdP tokens of a kid that disappears from the JWKS, and keeps the others", async () => {
    const keys = await startKeyServer();
    try {
      await keys.addKey("k1");
      await keys.addKey("k2");
      await keys.addKey("k3", false);
      const auth = new OIDCAuth(keys.options({ jwksCooldownSec: 0 }));
      const one = await keys.sign("k1");
      const two = await keys.sign("k2");
      await auth.authenticate(request(one));
      await auth.authenticate(request(two));
      expect(auth.tokenCacheStats.size).toBe(2);

      keys.unpublish("k1");
      // An unknown kid makes the guard refetch the JWKS: k1 is gone from it.
      const fetches = keys.fetches;
      expect(await outcome(auth, await keys.sign("k3"))).toMatchObject({ status: 401 });
      expect(keys.fetches).toBe(fetches + 1);
      expect(auth.tokenCacheStats.size).toBe(1);

      const fresh = new OIDCAuth(keys.options({ tokenCacheSize: 0 }));
      expect(await outcome(auth, one)).toEqual(await outcome(fresh, one));
      expect(await outcome(auth, one)).toMatchObject({ status: 401, error: "invalid_token" });
      const before = auth.tokenCacheStats;
      expect(await outcome(auth, two)).toEqual({ ok: "u-carol" });
      expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });
    } finally {
      await keys.close();
    }
  });

  it("keeps broker tokens of a rotated key, and drops them once the key is deleted", async () => {
    const store = new MemoryBrokerStore();
    const auth = new OIDCAuth(
      idpOptions({
        brokerMode: true,
        tokenExchange: true,
        brokerStore: store,
        secret: "token-cache-test-secret-0123456789abcdef",
        jwksCooldownSec: 0,
      }),
    );
    try {
      const response = await auth.handleRequest(
        new Request("http://app.test/auth/v2/token", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
            subject_token: alice,
            subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
          }),
        }),
      );
      expect(response.status).toBe(200);
      const { access_token: token } = (await response.json()) as { access_token: string };

      expect((await auth.authenticate(request(token))).sub).toBe("u-alice");
      await auth.rotateSigningKey();
      let before = auth.tokenCacheStats;
      expect((await auth.authenticate(request(token))).sub).toBe("u-alice");
      expect(countsSince(auth, before)).toEqual({ hits: 1, misses: 0 });

      // The retired key is deleted from the store; the next reload of the keys sees it gone.
      await store.deleteSigningKeys(Math.floor(Date.now() / 1000) + 60);
      await auth.rotateSigningKey();
      before = auth.tokenCacheStats;
      expect(await outcome(auth, token)).toMatchObject({ status: 401, error: "invalid_token" });
      expect(countsSince(auth, before)).toEqual({ hits: 0, misses: 1 });
      const fresh = new OIDCAuth(
        idpOptions({ brokerMode: true, brokerStore: store, tokenCacheSize: 0 }),
      );
      expect(await outcome(fresh, token)).toEqual(await outcome(auth, token));
    } finally {
      await auth.close();
    }
  });
});

describe("TokenCache", () => {
  /** A JWT-shaped string (the verifier is faked here). */
  function jwtShaped(id: string): string {
    const header = Buffer.from(JSON.stringify({ alg: "EdDSA" })).toString("base64url");
    return `${header}.${Buffer.from(JSON.stringify({ id })).toString("base64url")}.sig`;
  }

  function claims(sub: string): IDToken {
    const t = Math.floor(Date.now() / 1000);
    return { iss: "https://issuer.test", sub, iat: t, exp: t + 300, roles: [] };
  }

  /** A fake verifier: accepts any token as `sub`, verified by the key `kid`. */
  function verifiedBy(kid: string | undefined, sub: string): VerifyUncached {
    return async () => ({ token: claims(sub), kid });
  }

  const options = { capacity: 100, maxAgeMs: 600_000, clockToleranceSec: 0, maxTokenBytes: 8192 };

  it("drops tokens without kid whenever any key is removed", async () => {
    const cache = new TokenCache(options);
    await cache.verify(jwtShaped("1"), verifiedBy(undefined, "a"));
    await cache.verify(jwtShaped("2"), verifiedBy("k1", "b"));
    await cache.verify(jwtShaped("3"), verifiedBy("k2", "c"));
    cache.invalidateKeys(["k2"]);
    expect(cache.stats().size).toBe(1);
  });

  it("does not store a verification that overlapped an invalidation", async () => {
    const cache = new TokenCache(options);
    let finish: (verified: VerifiedToken) => void = () => {};
    const pending = cache.verify(
      jwtShaped("1"),
      () => new Promise<VerifiedToken>((resolve) => (finish = resolve)),
    );
    await Promise.resolve();
    cache.invalidateKeys(["k1"]);
    finish({ token: claims("a"), kid: "k1" });
    expect((await pending).sub).toBe("a");
    expect(cache.stats().size).toBe(0);
  });

  it("answers a stored token synchronously", async () => {
    const cache = new TokenCache(options);
    const token = jwtShaped("1");
    const verifier = vi.fn(verifiedBy("k1", "a"));
    expect(cache.verify(token, verifier)).toBeInstanceOf(Promise);
    await cache.verify(token, verifier);
    expect((cache.verify(token, verifier) as IDToken).sub).toBe("a");
    expect(verifier).toHaveBeenCalledTimes(1);
  });

  it("verifies a new token once for concurrent callers, then answers it synchronously", async () => {
    const cache = new TokenCache(options);
    const token = jwtShaped("2");
    const verifier = vi.fn(verifiedBy("k1", "b"));
    const first = cache.verify(token, verifier);
    const second = cache.verify(token, verifier);
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect((await first)?.sub).toBe("b");
    expect((cache.verify(token, verifier) as IDToken).sub).toBe("b");
    expect(verifier).toHaveBeenCalledTimes(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  it("verifies every time with the cache disabled", async () => {
    const cache = new TokenCache({ ...options, capacity: 0 });
    const verifier = vi.fn(verifiedBy("k1", "a"));
    await cache.verify(jwtShaped("3"), verifier);
    expect(cache.verify(jwtShaped("3"), verifier)).toBeInstanceOf(Promise);
    expect(verifier).toHaveBeenCalledTimes(2);
  });

  it("does not hash tokens longer than maxTokenBytes: the verifier refuses them", async () => {
    const cache = new TokenCache({ ...options, maxTokenBytes: 10 });
    await expect(
      cache.verify(jwtShaped("1"), async () => {
        throw new OIDCAuthError(401, "invalid_token", "too long");
      }),
    ).rejects.toMatchObject({ status: 401 });
    expect(cache.stats()).toMatchObject({ size: 0, hits: 0, misses: 0 });
  });
});
