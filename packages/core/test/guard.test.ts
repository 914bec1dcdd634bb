import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { CompactSign, decodeJwt, EncryptJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IDToken, OIDCAuthOptions } from "../src/index.js";
import { ConfigError, OIDCAuth, OIDCAuthError, silentLogger } from "../src/index.js";

let idp: DevIdp;
let auth: OIDCAuth;
let alice: string;
let aliceClaims: Record<string, unknown>;
let bob: string;

function options(extra: OIDCAuthOptions = {}): OIDCAuthOptions {
  return {
    clientId: "oidc-auth-demo",
    clientSecret: "oidc-auth-demo-secret",
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    logger: silentLogger,
    ...extra,
  };
}

/** A fresh guard (own discovery and key caches) against the shared dev IdP. */
function newAuth(extra: OIDCAuthOptions = {}): OIDCAuth {
  return new OIDCAuth(options(extra));
}

/** A request carrying `Authorization: <scheme> <token>` (none when token is undefined). */
function request(token: string | undefined, scheme = "Bearer"): Request {
  const headers: Record<string, string> =
    token === undefined ? {} : { authorization: `${scheme} ${token}` };
  return new Request("http://app.test/api/me", { headers });
}

/** Alice's real claims, changed, signed with the IdP's real key. */
function aliceSigned(changes: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return idp.signJwt({ ...aliceClaims, ...changes }, header);
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** The OIDCAuthError a promise rejects with (fails the test if it resolves or throws else). */
async function refusal(promise: Promise<unknown>): Promise<OIDCAuthError> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OIDCAuthError);
    return err as OIDCAuthError;
  }
  return expect.fail(`expected an OIDCAuthError, got ${JSON.stringify(result)}`);
}

async function expectStatus(
  promise: Promise<unknown>,
  status: number,
  error: string,
): Promise<OIDCAuthError> {
  const err = await refusal(promise);
  expect({ status: err.status, error: err.error }).toEqual({ status, error });
  return err;
}

/**
 * An ES256 key of our own, published as a JWKS on 127.0.0.1, that signs Alice's claims.
 * `replaceKey()` publishes a new key under the same kid and signs with it from then on.
 */
async function serveOwnJwks() {
  const newKey = async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "own-key", alg: "ES256", use: "sig" };
    return { privateKey, jwk };
  };
  let key = await newKey();
  const server = createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [key.jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/keys`,
    async sign(extraHeader: Record<string, unknown>): Promise<string> {
      const header = { alg: "ES256", typ: "at+jwt", kid: "own-key", ...extraHeader };
      const critical = Array.isArray(extraHeader.crit) ? (extraHeader.crit as string[]) : [];
      return new CompactSign(new TextEncoder().encode(JSON.stringify(aliceClaims)))
        .setProtectedHeader(header)
        .sign(key.privateKey, { crit: Object.fromEntries(critical.map((name) => [name, true])) });
    },
    async replaceKey() {
      key = await newKey();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function jwksHits(): number {
  return idp.hits.get("/jwks") ?? 0;
}

function discoveryHits(): number {
  return idp.hits.get("/.well-known/openid-configuration") ?? 0;
}

beforeAll(async () => {
  idp = await startDevIdp();
  auth = newAuth();
  alice = await idp.mintAccessToken("alice", { scope: "openid profile email" });
  aliceClaims = decodeJwt(alice) as Record<string, unknown>;
  bob = await idp.mintAccessToken("bob", { scope: "openid profile email" });
});

afterAll(async () => {
  await idp?.stop();
});

describe("the flattened role set", () => {
  it("collects realm roles, this client's resource roles and groups", async () => {
    const token = await auth.authenticate(request(alice));
    expect([...token.roles].sort()).toEqual(["/staff", "admin", "editor", "user"]);
    const bobToken = await auth.authenticate(request(bob));
    expect([...bobToken.roles].sort()).toEqual(["/guests", "user", "viewer"]);
  });

  it("ignores the resource roles another client granted", async () => {
    const token = await aliceSigned({
      realm_access: { roles: ["user"] },
      resource_access: { "other-client": { roles: ["admin"] } },
    });
    const verified = await auth.authenticate(request(token));
    expect(verified.roles).not.toContain("admin");
    expect([...verified.roles].sort()).toEqual(["/staff", "user"]);
    await expectStatus(
      auth.authenticate(request(token), { claims: { roles: ["admin"] } }),
      403,
      "access_denied",
    );
  });

  it("reads resource roles of the configured client id", async () => {
    const token = await aliceSigned({
      realm_access: { roles: ["user"] },
      resource_access: { "other-client": { roles: ["admin"] } },
    });
    const other = newAuth({ clientId: "other-client" });
    const verified = await other.authenticate(request(token), { claims: { roles: ["admin"] } });
    expect(verified.roles).toContain("admin");
  });

  it("takes its sources from the roleClaims option", async () => {
    const custom = newAuth({ roleClaims: ["permissions", "department", "realm_access.roles"] });
    const token = await aliceSigned({ permissions: ["reports:read"], department: "sales" });
    const verified = await custom.authenticate(request(token));
    expect([...verified.roles].sort()).toEqual(["admin", "reports:read", "sales", "user"]);
    expect(verified.roles).not.toContain("editor");
    expect(verified.roles).not.toContain("/staff");
    const none = newAuth({ roleClaims: [] });
    expect((await none.authenticate(request(alice))).roles).toEqual([]);
  });

  it("refuses a token whose configured role claim is not a string or a list of strings", async () => {
    const token = await aliceSigned({ groups: ["/staff", 42] });
    await expectStatus(auth.authenticate(request(token)), 401, "invalid_token");
    const ignored = newAuth({ roleClaims: ["realm_access.roles"] });
    expect((await ignored.authenticate(request(token))).roles).toEqual(["user", "admin"]);
  });
});

describe("claim constraints", () => {
  it("applies the claims option to every guard call", async () => {
    const adminsOnly = newAuth({ claims: { roles: ["admin"] } });
    expect((await adminsOnly.authenticate(request(alice))).sub).toBe("u-alice");
    const err = await expectStatus(adminsOnly.authenticate(request(bob)), 403, "access_denied");
    expect(err.headers["WWW-Authenticate"]).toMatch(/error="insufficient_scope"/);
    await expectStatus(
      adminsOnly.authenticate(request(bob), { scopes: "profile" }),
      403,
      "access_denied",
    );
  });

  it("lets a per-call constraint replace the configured one of the same key", async () => {
    const adminsOnly = newAuth({ claims: { roles: ["admin"] } });
    const viewers = { claims: { roles: ["viewer"] } };
    expect((await adminsOnly.authenticate(request(bob), viewers)).sub).toBe("u-bob");
    await expectStatus(adminsOnly.authenticate(request(alice), viewers), 403, "access_denied");
  });

  it("keeps configured constraints of other keys next to per-call ones", async () => {
    const verifiedOnly = newAuth({ claims: { email_verified: [true] } });
    const perCall = { claims: { preferred_username: ["alice"] } };
    expect((await verifiedOnly.authenticate(request(alice), perCall)).sub).toBe("u-alice");
    const unverified = await aliceSigned({ email_verified: false });
    await expectStatus(
      verifiedOnly.authenticate(request(unverified), perCall),
      403,
      "access_denied",
    );
    await expectStatus(verifiedOnly.authenticate(request(bob), perCall), 403, "access_denied");
  });
});

describe("claim constraints that are not constraints", () => {
  it("refuse the configuration, and a per-call one rejects with the ConfigError, not a 401", async () => {
    expect(() => newAuth({ claims: { roles: { admin: true } } as never })).toThrow(ConfigError);
    expect(() => newAuth({ claims: { roles: [] } })).toThrow(ConfigError);
    expect(() => newAuth({ claims: { n: [Number.NaN] } })).toThrow(ConfigError);
    await expect(
      auth.authenticate(request(alice), { claims: { roles: null } as never }),
    ).rejects.toBeInstanceOf(ConfigError);
    expect(() => auth.guard({ claims: { roles: [["admin"]] } as never })).toThrow(ConfigError);
  });

  it("match whole values of the same type", async () => {
    const admins = newAuth({ claims: { roles: "admi", email_verified: [true] } });
    await expectStatus(admins.authenticate(request(alice)), 403, "access_denied");
    const exact = newAuth({ claims: { roles: "admin", email_verified: "true" } });
    await expectStatus(exact.authenticate(request(alice)), 403, "access_denied");
    const right = newAuth({ claims: { roles: "admin", email_verified: [true] } });
    expect((await right.authenticate(request(alice))).sub).toBe("u-alice");
  });
});

describe("scopes", () => {
  it("requires every listed scope", async () => {
    const token = await auth.authenticate(request(alice), { scopes: " profile   email " });
    expect(token.scope).toBe("openid profile email");
    const err = await expectStatus(
      auth.authenticate(request(alice), { scopes: "profile api" }),
      403,
      "insufficient_scope",
    );
    expect(err.headers["WWW-Authenticate"]).toBe(
      'Bearer realm="oidc-auth", error="insufficient_scope", scope="profile api"',
    );
  });

  it("accepts scopes from an scp array when there is no scope string", async () => {
    const token = await aliceSigned({ scope: undefined, scp: ["api", "reports"] });
    const verified = await auth.authenticate(request(token), { scopes: "api reports" });
    expect(verified.scp).toEqual(["api", "reports"]);
    await expectStatus(
      auth.authenticate(request(token), { scopes: "api admin" }),
      403,
      "insufficient_scope",
    );
  });

  it("does not grant scopes from a token without scope or scp", async () => {
    const token = await aliceSigned({ scope: undefined });
    expect((await auth.authenticate(request(token))).sub).toBe("u-alice");
    await expectStatus(
      auth.authenticate(request(token), { scopes: "openid" }),
      403,
      "insufficient_scope",
    );
  });
});

describe("the thrown errors", () => {
  it("a missing token: 401 with a bare Bearer challenge", async () => {
    const err = await expectStatus(auth.authenticate(request(undefined)), 401, "invalid_token");
    expect(err.headers["WWW-Authenticate"]).toBe('Bearer realm="oidc-auth"');
    expect(err.description).toMatch(/required/i);
  });

  it("a non-Bearer Authorization header counts as a missing token", async () => {
    const err = await expectStatus(
      auth.authenticate(request(alice, "Basic")),
      401,
      "invalid_token",
    );
    expect(err.headers["WWW-Authenticate"]).toBe('Bearer realm="oidc-auth"');
  });

  it("an invalid token: 401 with error=invalid_token in the challenge", async () => {
    const expired = await aliceSigned({ iat: now() - 7200, exp: now() - 3600 });
    const err = await expectStatus(auth.authenticate(request(expired)), 401, "invalid_token");
    expect(err.headers["WWW-Authenticate"]).toMatch(
      /^Bearer realm="oidc-auth", error="invalid_token", error_description="[^"]+"$/,
    );
  });

  it("a valid token lacking a scope: 403 insufficient_scope naming the required scopes", async () => {
    const err = await expectStatus(
      auth.authenticate(request(alice), { scopes: "admin" }),
      403,
      "insufficient_scope",
    );
    expect(err.headers["WWW-Authenticate"]).toMatch(/error="insufficient_scope", scope="admin"/);
  });
});

describe("optional: true", () => {
  it("answers the verified token when it is valid", async () => {
    const token = await auth.authenticate(request(alice), { optional: true });
    expect(token?.sub).toBe("u-alice");
    expect(token?.roles).toContain("editor");
  });

  it("answers null for a missing or an invalid token (401)", async () => {
    expect(await auth.authenticate(request(undefined), { optional: true })).toBeNull();
    expect(await auth.authenticate(request("not-a-jwt"), { optional: true })).toBeNull();
    const expired = await aliceSigned({ iat: now() - 7200, exp: now() - 3600 });
    expect(await auth.authenticate(request(expired), { optional: true })).toBeNull();
  });

  it("answers null for a missing scope or a failed claim constraint (403)", async () => {
    expect(await auth.authenticate(request(alice), { optional: true, scopes: "admin" })).toBeNull();
    expect(
      await auth.authenticate(request(bob), { optional: true, claims: { roles: ["admin"] } }),
    ).toBeNull();
  });

  it("answers null when the IdP is unreachable (503)", async () => {
    const down = await startDevIdp();
    const token = await down.mintAccessToken("alice");
    await down.stop();
    const guard = new OIDCAuth({ ...options(), discoveryUrl: down.discoveryUrl });
    await expectStatus(guard.authenticate(request(token)), 503, "temporarily_unavailable");
    expect(await guard.authenticate(request(token), { optional: true })).toBeNull();
  });
});

describe("token checks from the configuration", () => {
  it("refuses the IdP's RS256 tokens when only ES256 is allowed", async () => {
    const es256Only = newAuth({ algorithms: ["ES256"] });
    await expectStatus(es256Only.authenticate(request(alice)), 401, "invalid_token");
    await expectStatus(es256Only.verifyToken(alice), 401, "invalid_token");
    expect((await auth.authenticate(request(alice))).sub).toBe("u-alice");
  });

  it("accepts at+jwt, JWT and no typ by default, and nothing else", async () => {
    expect((await auth.authenticate(request(await aliceSigned({}, { typ: "JWT" })))).sub).toBe(
      "u-alice",
    );
    const untyped = await aliceSigned({}, { typ: undefined });
    expect((await auth.authenticate(request(untyped))).sub).toBe("u-alice");
    await expectStatus(
      auth.authenticate(request(await aliceSigned({}, { typ: "secevent+jwt" }))),
      401,
      "invalid_token",
    );
  });

  it("accepts only the configured accessTokenTypes", async () => {
    const jwtOnly = newAuth({ accessTokenTypes: ["JWT"] });
    await expectStatus(jwtOnly.authenticate(request(alice)), 401, "invalid_token");
    const jwt = await aliceSigned({}, { typ: "JWT" });
    expect((await jwtOnly.authenticate(request(jwt))).sub).toBe("u-alice");
    const atOnly = newAuth({ accessTokenTypes: ["at+jwt"] });
    await expectStatus(atOnly.authenticate(request(jwt)), 401, "invalid_token");
    expect((await atOnly.authenticate(request(alice))).sub).toBe("u-alice");
  });

  it("accepts a token typed application/at+jwt when at+jwt is configured (RFC 7515 §4.1.9)", async () => {
    const atOnly = newAuth({ accessTokenTypes: ["at+jwt"] });
    const prefixed = await aliceSigned({}, { typ: "application/at+jwt" });
    expect((await atOnly.authenticate(request(prefixed))).sub).toBe("u-alice");
  });

  it("accepts a token typed at+jwt when application/at+jwt is configured", async () => {
    const prefixedConfig = newAuth({ accessTokenTypes: ["application/at+jwt"] });
    expect((await prefixedConfig.authenticate(request(alice))).sub).toBe("u-alice");
  });

  it("accepts a token typed application/jwt by default, like JWT", async () => {
    const token = await aliceSigned({}, { typ: "application/jwt" });
    expect((await auth.authenticate(request(token))).sub).toBe("u-alice");
  });

  it("refuses a token with an unknown crit header", async () => {
    // jose will not sign an unknown crit with the IdP's key, so this guard takes its keys
    // from a JWKS of our own (the jwksUri option); iss, aud and claims stay the IdP's.
    const keys = await serveOwnJwks();
    try {
      const guard = newAuth({ jwksUri: keys.uri });
      const plain = await keys.sign({});
      expect((await guard.authenticate(request(plain))).sub).toBe("u-alice");
      const critical = await keys.sign({ crit: ["x-unknown"], "x-unknown": true });
      await expectStatus(guard.authenticate(request(critical)), 401, "invalid_token");
      await expectStatus(guard.verifyToken(critical), 401, "invalid_token");
    } finally {
      await keys.close();
    }
  });

  it("refuses a JWE-shaped (five part) token", async () => {
    const jwe = await new EncryptJWT({ ...aliceClaims })
      .setProtectedHeader({ alg: "dir", enc: "A256GCM", typ: "at+jwt" })
      .encrypt(crypto.getRandomValues(new Uint8Array(32)));
    expect(jwe.split(".")).toHaveLength(5);
    await expectStatus(auth.authenticate(request(jwe)), 401, "invalid_token");
    await expectStatus(auth.verifyToken(jwe), 401, "invalid_token");
  });

  it("refuses tokens longer than maxTokenBytes, and accepts one exactly that long", async () => {
    const exact = newAuth({ maxTokenBytes: alice.length });
    expect((await exact.authenticate(request(alice))).sub).toBe("u-alice");
    const shorter = newAuth({ maxTokenBytes: alice.length - 1 });
    await expectStatus(shorter.authenticate(request(alice)), 401, "invalid_token");
    await expectStatus(shorter.verifyToken(alice), 401, "invalid_token");
  });

  it("accepts a token expired 10 s ago within the default 30 s tolerance", async () => {
    const token = await aliceSigned({ iat: now() - 310, exp: now() - 10 });
    expect((await auth.authenticate(request(token))).sub).toBe("u-alice");
    const strict = newAuth({ clockToleranceSec: 0 });
    await expectStatus(strict.authenticate(request(token)), 401, "invalid_token");
    const longAgo = await aliceSigned({ iat: now() - 340, exp: now() - 40 });
    await expectStatus(auth.authenticate(request(longAgo)), 401, "invalid_token");
  });

  it("applies the tolerance to nbf too", async () => {
    const soon = await aliceSigned({ nbf: now() + 10 });
    expect((await auth.authenticate(request(soon))).sub).toBe("u-alice");
    const strict = newAuth({ clockToleranceSec: 0 });
    await expectStatus(strict.authenticate(request(soon)), 401, "invalid_token");
    const later = await aliceSigned({ nbf: now() + 120 });
    await expectStatus(auth.authenticate(request(later)), 401, "invalid_token");
  });
});

describe("verifyToken()", () => {
  it("verifies a raw token and answers it with the flattened roles", async () => {
    const token: IDToken = await auth.verifyToken(alice);
    expect(token).toMatchObject({
      sub: "u-alice",
      iss: idp.issuer,
      aud: idp.audience,
      preferred_username: "alice",
    });
    expect(token.roles).toContain("admin");
  });

  it("applies no scope or claim constraints", async () => {
    const nobody = newAuth({ claims: { roles: ["nobody"] } });
    expect((await nobody.verifyToken(bob)).sub).toBe("u-bob");
    await expectStatus(nobody.authenticate(request(bob)), 403, "access_denied");
  });

  it("refuses an invalid token with 401", async () => {
    await expectStatus(
      auth.verifyToken(await idp.mintAccessToken("alice", { audience: "another-api" })),
      401,
      "invalid_token",
    );
    await expectStatus(auth.verifyToken("a.b.c"), 401, "invalid_token");
  });
});

describe("guard(): a route's guard prepared once", () => {
  it("check() answers a cached token synchronously, anything else as a promise", async () => {
    const route = newAuth().guard();
    const first = route.check(request(alice));
    expect(first).toBeInstanceOf(Promise); // not verified yet
    expect((await first).sub).toBe("u-alice");
    const hit = route.check(request(alice));
    expect(hit).not.toBeInstanceOf(Promise);
    expect((hit as IDToken).sub).toBe("u-alice");
    const otherSpelling = route.check(request(alice, "bearer"));
    expect(otherSpelling).not.toBeInstanceOf(Promise); // one header parser, one cache key
    expect((otherSpelling as IDToken).sub).toBe("u-alice");
    await expectStatus(Promise.resolve(route.check(request(undefined))), 401, "invalid_token");
    await expectStatus(Promise.resolve(route.check(request(`${alice}x`))), 401, "invalid_token");
  });

  it("never answers a cached token its scopes or claims refuse; the promise says why", async () => {
    const guarded = newAuth({ claims: { groups: ["/staff"] } });
    expect((await guarded.guard().authenticate(request(alice))).sub).toBe("u-alice");
    const scoped = guarded.guard({ scopes: "api" });
    const refused = scoped.check(request(alice));
    expect(refused).toBeInstanceOf(Promise);
    await expectStatus(Promise.resolve(refused), 403, "insufficient_scope");
    await expectStatus(scoped.authenticate(request(alice)), 403, "insufficient_scope");
    expect(await scoped.checkOptional(request(alice))).toBeNull();
    expect(await scoped.optional(request(alice))).toBeNull();
    // Route claims join the configured ones: alice has role admin and group /staff.
    const admins = guarded.guard({ claims: { roles: ["admin"] } });
    expect((admins.check(request(alice)) as IDToken).sub).toBe("u-alice");
    // bob is not in /staff: the configured constraint still applies on a route with its own.
    expect((await guarded.verifyToken(bob)).sub).toBe("u-bob");
    const users = guarded.guard({ claims: { roles: ["user"] } });
    await expectStatus(Promise.resolve(users.check(request(bob))), 403, "access_denied");
    await expectStatus(users.authenticate(request(bob)), 403, "access_denied");
  });

  it("verifies a new token once for concurrent check() calls, then answers it from the cache", async () => {
    const guarded = newAuth();
    const route = guarded.guard();
    const token = await idp.mintAccessToken("bob", { scope: "openid" });
    const before = guarded.tokenCacheStats;
    const answers = await Promise.all([route.check(request(token)), route.check(request(token))]);
    expect(answers.map((t) => t.sub)).toEqual(["u-bob", "u-bob"]);
    expect(route.check(request(token))).not.toBeInstanceOf(Promise);
    const after = guarded.tokenCacheStats;
    expect({ misses: after.misses - before.misses, hits: after.hits - before.hits }).toEqual({
      misses: 1,
      hits: 1,
    });
  });

  it("answers 401 from authenticate() and null from optional() for a missing token", async () => {
    const route = newAuth().guard();
    await expectStatus(route.authenticate(request(undefined)), 401, "invalid_token");
    expect(await route.optional(request(undefined))).toBeNull();
  });
});

describe("the IdP's keys and metadata", () => {
  it("verifies with a key replaced under the same kid once the key set is refetched", async () => {
    const keys = await serveOwnJwks();
    try {
      // No token cache: every call goes to the key set, whose chosen keys are remembered.
      const guarded = newAuth({ jwksUri: keys.uri, tokenCacheSize: 0, jwksMaxAgeSec: 1 });
      const before = await keys.sign({});
      expect((await guarded.verifyToken(before)).sub).toBe("u-alice");
      expect((await guarded.verifyToken(before)).sub).toBe("u-alice");
      await keys.replaceKey();
      const after = await keys.sign({});
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the fetched set goes stale
      expect((await guarded.verifyToken(after)).sub).toBe("u-alice");
      await expectStatus(guarded.verifyToken(before), 401, "invalid_token");
    } finally {
      await keys.close();
    }
  });

  it("a flood of unknown kids after the keys are cached fetches the JWKS at most once more", async () => {
    const guard = newAuth();
    const before = jwksHits();
    expect((await guard.authenticate(request(alice))).sub).toBe("u-alice");
    const primed = jwksHits();
    expect(primed).toBe(before + 1);
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () => aliceSigned({}, { kid: randomUUID() })),
    );
    const results = await Promise.allSettled(tokens.map((t) => guard.authenticate(request(t))));
    for (const result of results) {
      expect(result.status).toBe("rejected");
      const reason = (result as PromiseRejectedResult).reason as OIDCAuthError;
      expect(reason).toBeInstanceOf(OIDCAuthError);
      expect(reason.status).toBe(401);
    }
    expect(jwksHits() - primed).toBeLessThanOrEqual(1);
    const afterFlood = jwksHits();
    expect((await guard.authenticate(request(alice))).sub).toBe("u-alice");
    expect(jwksHits()).toBe(afterFlood);
  });

  it("a flood of unknown kids on a cold guard fetches discovery and the JWKS once", async () => {
    const guard = newAuth();
    const jwksBefore = jwksHits();
    const discoveryBefore = discoveryHits();
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () => aliceSigned({}, { kid: randomUUID() })),
    );
    const results = await Promise.allSettled(tokens.map((t) => guard.authenticate(request(t))));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(jwksHits() - jwksBefore).toBe(1);
    expect(discoveryHits() - discoveryBefore).toBe(1);
  });

  it("an IdP stopped before the first request: 503 from required, null from optional", async () => {
    const lonely = await startDevIdp();
    const token = await lonely.mintAccessToken("alice");
    await lonely.stop();
    const guard = new OIDCAuth({ ...options(), discoveryUrl: lonely.discoveryUrl });
    const err = await expectStatus(
      guard.authenticate(request(token)),
      503,
      "temporarily_unavailable",
    );
    expect(err.headers["Retry-After"]).toBe("5");
    await expectStatus(guard.verifyToken(token), 503, "temporarily_unavailable");
    expect(await guard.authenticate(request(token), { optional: true })).toBeNull();
    // no token at all is still a 401: the IdP is not needed to say so
    await expectStatus(guard.authenticate(request(undefined)), 401, "invalid_token");
  });

  it("uses the fetch option for every IdP call, discovering once for 20 concurrent requests", async () => {
    const calls: string[] = [];
    const counting: typeof fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      calls.push(new URL(url).pathname);
      return fetch(input, init);
    };
    const guard = newAuth({ fetch: counting });
    const discoveryBefore = discoveryHits();
    const tokens = await Promise.all(
      Array.from({ length: 20 }, () => guard.authenticate(request(alice))),
    );
    expect(tokens.map((t) => t.sub)).toEqual(Array(20).fill("u-alice"));
    expect(calls.filter((p) => p === "/.well-known/openid-configuration")).toHaveLength(1);
    expect(calls.filter((p) => p === "/jwks")).toHaveLength(1);
    expect(calls).toHaveLength(2);
    expect(discoveryHits() - discoveryBefore).toBe(1);
  });

  it("does not keep a failed discovery: a request after the cooldown tries again", async () => {
    let failures = 1;
    const calls: string[] = [];
    const flaky: typeof fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      calls.push(new URL(url).pathname);
      if (failures > 0) {
        failures--;
        return Promise.reject(new TypeError("fetch failed"));
      }
      return fetch(input, init);
    };
    const guard = newAuth({ fetch: flaky, jwksCooldownSec: 1 });
    await expectStatus(guard.authenticate(request(alice)), 503, "temporarily_unavailable");
    await expectStatus(guard.authenticate(request(alice)), 503, "temporarily_unavailable");
    expect(calls.filter((p) => p === "/.well-known/openid-configuration")).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await guard.authenticate(request(alice))).sub).toBe("u-alice");
    expect(calls.filter((p) => p === "/.well-known/openid-configuration")).toHaveLength(2);
  });

  it("a discovery answered with HTTP 500 is 503, a JWKS answered with 500 is 503", async () => {
    const discovery500: typeof fetch = async () => new Response("oops", { status: 500 });
    await expectStatus(
      newAuth({ fetch: discovery500 }).authenticate(request(alice)),
      503,
      "temporarily_unavailable",
    );
    const jwks500: typeof fetch = (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (new URL(url).pathname === "/jwks") {
        return Promise.resolve(new Response("oops", { status: 500 }));
      }
      return fetch(input, init);
    };
    await expectStatus(
      newAuth({ fetch: jwks500 }).authenticate(request(alice)),
      503,
      "temporarily_unavailable",
    );
  });
});
