/**
 * SECURITY.md "Bearer tokens": hostile tokens against the guards of the Hono example, in
 * passthrough mode and in broker mode. (More rows of the guard table live in
 * ../guards.test.ts and ../broker.test.ts.)
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CompactEncrypt,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  SignJWT,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../support.js";
import { getWithToken, loginTokens, startStack } from "../support.js";

let stack: Stack;
let broker: Stack;
let claims: Record<string, unknown>;
let kid: string;
let attackerHits = 0;
let attacker: Server;
let attackerUrl: string;
let attackerKeys: CryptoKeyPair;
let attackerJwk: Record<string, unknown>;

beforeAll(async () => {
  stack = await startStack();
  broker = await startStack({
    idp: stack.idp,
    env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" },
  });
  const valid = await stack.idp.mintAccessToken("bob");
  claims = decodeJwt(valid) as Record<string, unknown>;
  kid = decodeProtectedHeader(valid).kid as string;
  attackerKeys = await generateKeyPair("RS256", { extractable: true });
  attackerJwk = { ...(await exportJWK(attackerKeys.publicKey)), kid, alg: "RS256", use: "sig" };
  // A key server of the attacker's: a guard that followed jku/x5u would call it.
  attacker = createServer((_req, res) => {
    attackerHits++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [attackerJwk] }));
  });
  await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/jwks`;
});
afterAll(async () => {
  await broker?.close();
  await stack?.close();
  await new Promise((r) => attacker?.close(r));
});

const signAsAttacker = (payload: Record<string, unknown>, header: Record<string, unknown>) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg: "RS256", typ: "at+jwt", ...header })
    .sign(attackerKeys.privateKey);

async function refused(url: string, token: string) {
  const response = await getWithToken(url, token);
  expect(response.status).toBe(401);
  const body = (await response.json()) as Record<string, string>;
  expect(body.error).toBe("invalid_token");
  return body;
}

describe("hostile headers are never followed", () => {
  it("refuses a token carrying its own key in `jwk`", async () => {
    const token = await signAsAttacker(
      { ...claims, roles: ["admin"] },
      { jwk: attackerJwk, kid: undefined },
    );
    await refused(`${stack.url}/api/me`, token);
  });

  it("refuses `jku` and `x5u` without fetching them", async () => {
    for (const header of [
      { jku: attackerUrl },
      { x5u: attackerUrl },
      { jku: attackerUrl, kid: "attacker" },
    ]) {
      await refused(`${stack.url}/api/me`, await signAsAttacker(claims, header));
      await refused(`${broker.url}/api/me`, await signAsAttacker(claims, header));
    }
    expect(attackerHits).toBe(0);
  });

  it("refuses an `x5c` chain", async () => {
    const token = await signAsAttacker(claims, {
      x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    });
    await refused(`${stack.url}/api/me`, token);
  });

  // An unknown `crit` extension under a valid signature: packages/core/test/guard.test.ts
  // ("refuses a token with an unknown crit header"), which signs with a key it serves itself.

  it("refuses JWE, whatever it carries", async () => {
    const { publicKey } = await generateKeyPair("RSA-OAEP-256");
    const jwe = await new CompactEncrypt(new TextEncoder().encode(await stack.idp.signJwt(claims)))
      .setProtectedHeader({ alg: "RSA-OAEP-256", enc: "A256GCM", cty: "JWT" })
      .encrypt(publicKey);
    await refused(`${stack.url}/api/me`, jwe);
    await refused(`${broker.url}/api/me`, jwe);
  });
});

describe("malformed encodings", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64url");
  const cases: Record<string, () => string> = {
    "bad base64 header": () => `%%%.${b64("{}")}.sig`,
    "header not JSON": () => `${b64("{not json")}.${b64("{}")}.sig`,
    "payload not JSON": () => `${b64('{"alg":"RS256"}')}.${b64("[1,2")}.sig`,
    "header is an array": () => `${b64("[]")}.${b64("{}")}.sig`,
    "empty parts": () => "..",
    "alg none, no signature": () => `${b64('{"alg":"none"}')}.${b64(JSON.stringify(claims))}.`,
  };
  for (const [name, make] of Object.entries(cases)) {
    it(`refuses ${name} with 401, in both modes`, async () => {
      await refused(`${stack.url}/api/me`, make());
      await refused(`${broker.url}/api/me`, make());
    });
  }
});

describe("claims of the wrong type are refused, never coerced", () => {
  const wrong: Record<string, unknown> = {
    "string exp": { exp: String(claims?.exp ?? "9999999999") },
    "string iat": { iat: "yesterday" },
    "numeric sub": { sub: 42 },
    "object roles": { roles: { admin: true } },
    "object realm roles": { realm_access: { roles: { 0: "admin" } } },
    "roles with a number": { groups: ["/staff", 7] },
    "array iss": { iss: ["x"] },
  };
  for (const [name, change] of Object.entries(wrong)) {
    it(`refuses ${name}`, async () => {
      const token = await stack.idp.signJwt({ ...claims, ...(change as Record<string, unknown>) });
      await refused(`${stack.url}/api/me`, token);
    });
  }

  it("a `__proto__` or `constructor` claim cannot grant a role", async () => {
    const sneaky = await stack.idp.signJwt({
      ...claims,
      ["__proto__"]: { roles: ["admin"], admin: true },
      constructor: { prototype: { roles: ["admin"] } },
    });
    const response = await getWithToken(`${stack.url}/api/admin`, sneaky);
    expect(response.status).toBe(403);
    const me = (await (await getWithToken(`${stack.url}/api/me`, sneaky)).json()) as {
      roles: string[];
    };
    expect(me.roles).not.toContain("admin");
    expect(({} as Record<string, unknown>).roles).toBeUndefined();
  });

  it("roles come from this client only, not every client of the realm", async () => {
    const token = await stack.idp.signJwt({
      ...claims,
      resource_access: {
        "some-other-client": { roles: ["admin"] },
        "oidc-auth-demo": { roles: ["viewer"] },
      },
    });
    expect((await getWithToken(`${stack.url}/api/admin`, token)).status).toBe(403);
  });
});

describe("token kinds are not interchangeable", () => {
  it("a broker token is refused where IdP tokens are expected, and the reverse", async () => {
    const brokerToken = (await loginTokens(broker)).access_token;
    await refused(`${stack.url}/api/me`, brokerToken);
    await refused(`${broker.url}/api/me`, await stack.idp.mintAccessToken("alice"));
  });

  it("an ID token is not an access token", async () => {
    const idToken = await stack.idp.signJwt(
      { ...claims, aud: "oidc-auth-demo", nonce: "n", at_hash: "x" },
      { typ: "JWT" },
    );
    await refused(`${stack.url}/api/me`, idToken);
  });
});

describe("failures look alike", () => {
  it("gives one fixed description for every verification failure and echoes nothing", async () => {
    const marker = "ECHO-ME-kid-and-iss-7f3a";
    const tokens = [
      await signAsAttacker(claims, { kid: marker }),
      await stack.idp.signJwt({ ...claims, iss: `http://${marker}.example` }),
      await stack.idp.signJwt({ ...claims, aud: marker }),
      await stack.idp.signJwt({ ...claims, exp: 1 }),
      "garbage",
    ];
    const descriptions = new Set<string>();
    for (const token of tokens) {
      const response = await getWithToken(`${stack.url}/api/me`, token);
      const text = await response.text();
      expect(text).not.toContain(marker);
      expect(response.headers.get("www-authenticate") ?? "").not.toContain(marker);
      descriptions.add((JSON.parse(text) as { error_description: string }).error_description);
    }
    expect(descriptions.size).toBe(1);
  });
});

describe("unknown kids", () => {
  it("a flood of random kids causes at most one JWKS fetch and does not block valid tokens", async () => {
    const valid = await stack.idp.mintAccessToken("alice");
    expect((await getWithToken(`${stack.url}/api/me`, valid)).status).toBe(200);
    const before = stack.idp.hits.get("/jwks") ?? 0;
    const flood = await Promise.all(
      Array.from({ length: 100 }, () => stack.idp.signJwt(claims, { kid: crypto.randomUUID() })),
    );
    const results = await Promise.all([
      ...flood.map(async (t) => (await getWithToken(`${stack.url}/api/me`, t)).status),
      (async () => (await getWithToken(`${stack.url}/api/me`, valid)).status)(),
    ]);
    expect(results.slice(0, 100)).toEqual(Array(100).fill(401));
    expect(results[100]).toBe(200);
    expect((stack.idp.hits.get("/jwks") ?? 0) - before).toBeLessThanOrEqual(1);
  });
});
