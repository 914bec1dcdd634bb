/**
 * SECURITY.md "claims", "token kinds", "audience", "key sets", "parsing" and "IdP outage":
 * issue 11's guard-side attacks, replayed over HTTP against the Hono example. Hostile key
 * sets, discovery documents and raw token bytes come from an issuer of the test's own
 * (support.ts `startOwnIssuer`) beside the dev IdP.
 */
import { createHash, createSign, generateKeyPairSync, randomBytes } from "node:crypto";
import type { OIDCAuthOptions } from "@oidc-auth/hono";
import { ConfigError, silentLogger } from "@oidc-auth/hono";
import {
  createLocalJWKSet,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import type { OwnIssuer, Stack } from "../support.js";
import { getWithToken, loginTokens, startOwnIssuer, startStack, TEST_SECRET } from "../support.js";

const CLIENT_ID = "oidc-auth-demo";
const API = "own-api";

let stack: Stack;
let valid: string;
let claims: Record<string, unknown>;

beforeAll(async () => {
  stack = await startStack();
  valid = await stack.idp.mintAccessToken("alice");
  claims = decodeJwt(valid) as Record<string, unknown>;
});
afterAll(async () => {
  await stack?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

/** Status and error code of GET `path` with the token (in the header). */
async function answer(base: Stack | string, token: string, path = "/api/me") {
  const url = typeof base === "string" ? base : base.url;
  const response = await getWithToken(`${url}${path}`, token);
  const body = (await response.json()) as { error?: string };
  return { status: response.status, error: body.error };
}

const refused = { status: 401, error: "invalid_token" };
const accepted = { status: 200, error: undefined };

/** The environment the example needs to construct (no server, no IdP call). */
function appEnv(extra: Record<string, string>): Record<string, string> {
  return {
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_DISCOVERY_URL: stack.idp.discoveryUrl,
    OIDC_AUDIENCE: stack.idp.audience,
    OIDC_SECRET: TEST_SECRET,
    ...extra,
  };
}

function startsWith(extra: Record<string, string>, overrides: OIDCAuthOptions = {}) {
  return () => createApp(appEnv(extra), { logger: silentLogger, ...overrides });
}

describe("claim constraints match exact values", () => {
  let strict: Stack;
  beforeAll(async () => {
    strict = await startStack({ idp: stack.idp, env: { OIDC_CLAIMS: '{"roles":"admins"}' } });
  });
  afterAll(async () => {
    await strict?.close();
  });

  it("treats a string as one value: role `adm` does not pass `admins`", async () => {
    const withRoles = (roles: string[]) => stack.idp.signJwt({ ...claims, roles });
    expect(await answer(strict, await withRoles(["adm"]))).toEqual({
      status: 403,
      error: "access_denied",
    });
    expect((await answer(strict, await withRoles(["admins-x", "dmin"]))).status).toBe(403);
    expect(await answer(strict, await withRoles(["admins"]))).toEqual(accepted);
  });

  it("refuses to start with a constraint that is not a string or a list of values", () => {
    for (const claimsJson of [
      '{"roles":{"any":["admin"]}}',
      '{"roles":[]}',
      '{"roles":null}',
      '{"roles":[{"a":1}]}',
      '{"roles":[["admin"]]}',
      '["admin"]',
      '"admin"',
      '{"":["x"]}',
    ]) {
      expect(startsWith({ OIDC_CLAIMS: claimsJson }), claimsJson).toThrow(ConfigError);
    }
    expect(
      startsWith({ OIDC_CLAIMS: '{"roles":["admin"],"email_verified":[true]}' }),
    ).not.toThrow();
  });

  it("refuses a route whose own constraint is not one, when the route is declared", () => {
    const { auth } = startsWith({})();
    expect(() => auth.required({ claims: { roles: { admin: true } as never } })).toThrow(
      /claims of a guard\.roles/,
    );
  });
});

/** A real ID token of the dev IdP: the code flow done by hand against the IdP itself. */
async function realIdToken(): Promise<string> {
  const discovery = (await (await fetch(stack.idp.discoveryUrl)).json()) as Record<string, string>;
  const verifier = b64(randomBytes(32));
  const redirectUri = "http://127.0.0.1:9/callback";
  const authorization = new URL(discovery.authorization_endpoint as string);
  authorization.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: "code",
    redirect_uri: redirectUri,
    scope: "openid profile email",
    state: "s",
    nonce: "n-0123456789",
    code_challenge: b64(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  }).toString();
  const redirect = await stack.idp.completeLogin(authorization.href, "alice");
  const response = await fetch(discovery.token_endpoint as string, {
    method: "POST",
    headers: {
      authorization: `Basic ${btoa(`${CLIENT_ID}:oidc-auth-demo-secret`)}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: redirect.searchParams.get("code") as string,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  const tokens = (await response.json()) as { id_token?: string };
  if (!tokens.id_token) throw new Error(`no ID token: ${JSON.stringify(tokens)}`);
  return tokens.id_token;
}

describe("ID tokens never pass the guard", () => {
  let forClient: Stack;
  beforeAll(async () => {
    forClient = await startStack({ idp: stack.idp, env: { OIDC_AUDIENCE: CLIENT_ID } });
  });
  afterAll(async () => {
    await forClient?.close();
  });

  it("refuses a real ID token where audience is the client id", async () => {
    const idToken = await realIdToken();
    expect(decodeJwt(idToken).aud).toBe(CLIENT_ID); // it would pass the audience check
    expect(await answer(forClient, idToken)).toEqual(refused);
    const hello = await getWithToken(`${forClient.url}/api/hello`, idToken);
    expect(await hello.json()).toEqual({ hello: "anonymous" });
  });

  it("refuses a token addressed to the client without an access-token marker", async () => {
    const { scope, client_id, ...idTokenLike } = claims;
    const token = await stack.idp.signJwt({ ...idTokenLike, aud: CLIENT_ID }, { typ: undefined });
    expect(await answer(forClient, token)).toEqual(refused);
    expect(
      await answer(forClient, await stack.idp.signJwt({ ...claims, aud: CLIENT_ID, nonce: "n" })),
    ).toEqual(refused);
    // Cognito names its kinds: an ID token says token_use "id", whatever else it carries
    const cognitoId = await stack.idp.signJwt({ ...claims, token_use: "id" });
    expect(await answer(stack, cognitoId)).toEqual(refused);
    const cognitoAccess = await stack.idp.signJwt({ ...claims, token_use: "access" });
    expect(await answer(stack, cognitoAccess)).toEqual(accepted);
  });

  it("refuses auth_time without an access-token marker, whatever the audience", async () => {
    const { scope, client_id, ...bare } = claims;
    const token = await stack.idp.signJwt({ ...bare, auth_time: now() }, { typ: undefined });
    expect(await answer(stack, token)).toEqual(refused);
    // the same claims with RFC 9068's typ are an access token (auth_time is allowed there)
    const typed = await stack.idp.signJwt({ ...bare, client_id, auth_time: now() });
    expect(await answer(stack, typed)).toEqual(accepted);
  });

  it("accepts access tokens for the client id that say what they are", async () => {
    const at = await stack.idp.mintAccessToken("alice", { audience: CLIENT_ID });
    expect(await answer(forClient, at)).toEqual(accepted);
    const { scope, client_id, ...bare } = claims;
    const keycloakStyle = await stack.idp.signJwt(
      { ...bare, aud: CLIENT_ID, typ: "Bearer", azp: CLIENT_ID },
      { typ: "JWT" },
    );
    expect(await answer(forClient, keycloakStyle)).toEqual(accepted);
  });

  it("refuses a token without typ when accessTokenTypes is at+jwt only", async () => {
    const typedOnly = await startStack({
      idp: stack.idp,
      env: { OIDC_ACCESS_TOKEN_TYPES: "at+jwt" },
    });
    try {
      expect(await answer(typedOnly, await stack.idp.signJwt(claims, { typ: undefined }))).toEqual(
        refused,
      );
      expect(await answer(typedOnly, await stack.idp.signJwt(claims, { typ: "JWT" }))).toEqual(
        refused,
      );
      expect(await answer(typedOnly, valid)).toEqual(accepted);
      // the default list has JWT, so an untyped token passes there
      expect(await answer(stack, await stack.idp.signJwt(claims, { typ: undefined }))).toEqual(
        accepted,
      );
    } finally {
      await typedOnly.close();
    }
  });
});

describe("audience and authorized parties", () => {
  const remoteIdp = {
    OIDC_DISCOVERY_URL: "https://idp.example.org/.well-known/openid-configuration",
  };

  it("refuses to start in passthrough mode without audience for an IdP off this machine", () => {
    expect(startsWith({ ...remoteIdp, OIDC_AUDIENCE: "" })).toThrow(/audience/);
    expect(startsWith({ ...remoteIdp })).not.toThrow();
    expect(startsWith({ ...remoteIdp, OIDC_AUDIENCE: "", OIDC_BROKER_MODE: "true" })).not.toThrow();
  });

  it("refuses to start without audience in production, even against a loopback IdP", () => {
    expect(startsWith({ OIDC_AUDIENCE: "", OIDC_PRODUCTION: "true" })).toThrow(/audience/);
    expect(startsWith({ OIDC_AUDIENCE: "" })).not.toThrow(); // development on this machine
  });

  it("starts with acceptAnyAudience, warning loudly, and then checks no audience", async () => {
    expect(
      startsWith({ ...remoteIdp, OIDC_AUDIENCE: "", OIDC_ACCEPT_ANY_AUDIENCE: "true" }),
    ).not.toThrow();
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => void warnings.push(message) };
    const open = await startStack({
      idp: stack.idp,
      env: { OIDC_AUDIENCE: "", OIDC_ACCEPT_ANY_AUDIENCE: "true" },
      options: { logger },
    });
    try {
      expect(warnings.some((w) => /acceptAnyAudience.*ANY API/.test(w))).toBe(true);
      const other = await stack.idp.mintAccessToken("alice", { audience: "another-api" });
      expect(await answer(open, other)).toEqual(accepted);
      expect(await answer(stack, other)).toEqual(refused);
    } finally {
      await open.close();
    }
  });

  it("accepts only the authorizedParties' tokens: azp, else client_id", async () => {
    const parties = await startStack({
      idp: stack.idp,
      env: { OIDC_AUTHORIZED_PARTIES: "oidc-auth-public, cli" },
    });
    try {
      expect(await answer(parties, valid)).toEqual(refused); // client_id oidc-auth-demo
      const publicClient = await stack.idp.mintAccessToken("alice", {
        clientId: "oidc-auth-public",
      });
      expect(await answer(parties, publicClient)).toEqual(accepted);
      const viaAzp = await stack.idp.signJwt({ ...claims, azp: "cli" });
      expect(await answer(parties, viaAzp)).toEqual(accepted);
      const azpWins = await stack.idp.signJwt({ ...claims, azp: "evil", client_id: "cli" });
      expect(await answer(parties, azpWins)).toEqual(refused);
      const { client_id, ...anonymous } = claims;
      expect(await answer(parties, await stack.idp.signJwt(anonymous))).toEqual(refused);
    } finally {
      await parties.close();
    }
  });
});

/** A stack in passthrough mode whose IdP is `issuer` (audience API). */
function stackFor(
  issuer: OwnIssuer,
  env: Record<string, string> = {},
  options: OIDCAuthOptions = {},
) {
  return startStack({
    idp: stack.idp,
    env: { OIDC_DISCOVERY_URL: issuer.discoveryUrl, OIDC_AUDIENCE: API, ...env },
    options,
  });
}

/** EMSA-PKCS1-v1_5 of a SHA-256 digest for a k-byte modulus (RFC 8017 §9.2). */
function pkcs1Encoded(signingInput: string, k: number): Uint8Array {
  const digestInfo = Buffer.concat([
    Buffer.from("3031300d060960864801650304020105000420", "hex"),
    createHash("sha256").update(signingInput).digest(),
  ]);
  const padding = Buffer.alloc(k - digestInfo.length - 3, 0xff);
  return Buffer.concat([Buffer.from([0x00, 0x01]), padding, Buffer.from([0x00]), digestInfo]);
}

describe("key sets and discovery documents", () => {
  let own: OwnIssuer;
  let elsewhere: OwnIssuer;
  let ownStack: Stack;
  beforeAll(async () => {
    own = await startOwnIssuer();
    elsewhere = await startOwnIssuer();
    ownStack = await stackFor(own);
  });
  afterAll(async () => {
    await ownStack?.close();
    await own?.close();
    await elsewhere?.close();
  });

  it("accepts the own issuer's valid token (the control)", async () => {
    expect(await answer(ownStack, await own.sign(own.claims(API)))).toEqual(accepted);
  });

  it("never verifies with an RSA key whose public exponent is 1", async () => {
    const { publicKey } = await generateKeyPair("RS256", { extractable: true });
    const weak = { ...(await exportJWK(publicKey)), e: "AQ", kid: "e-is-one", alg: "RS256" };
    own.jwks.keys.push(weak);
    const signingInput = `${b64(JSON.stringify({ alg: "RS256", typ: "at+jwt", kid: "e-is-one" }))}.${b64(JSON.stringify({ ...own.claims(API), roles: ["admin"] }))}`;
    // with e = 1 the signature is the padded digest itself: anyone can compute it
    const forged = `${signingInput}.${b64(pkcs1Encoded(signingInput, 256))}`;
    await jwtVerify(forged, await importJWK(weak, "RS256")); // jose alone accepts the forgery
    expect(await answer(ownStack, forged)).toEqual(refused);
  });

  it("never verifies with an RSA key under 2048 bits", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    own.jwks.keys.push({ ...publicKey.export({ format: "jwk" }), kid: "short", alg: "RS256" });
    const signingInput = `${b64(JSON.stringify({ alg: "RS256", typ: "at+jwt", kid: "short" }))}.${b64(JSON.stringify(own.claims(API)))}`;
    const signature = createSign("sha256").update(signingInput).sign(privateKey);
    expect(await answer(ownStack, `${signingInput}.${b64(signature)}`)).toEqual(refused);
  });

  it("refuses a discovered jwks_uri on another origin, unless configured", async () => {
    own.discovery.jwks_uri = `${elsewhere.issuer}/jwks`;
    const token = await elsewhere.sign(own.claims(API)); // the other origin's key, own's iss
    const misled = await stackFor(own);
    const trusting = await stackFor(own, { OIDC_TRUSTED_JWKS_ORIGINS: elsewhere.issuer });
    const configured = await stackFor(own, { OIDC_JWKS_URI: `${elsewhere.issuer}/jwks` });
    try {
      expect(await answer(misled, token)).toEqual({ status: 502, error: "upstream_error" });
      expect(elsewhere.hits.get("/jwks") ?? 0).toBe(0);
      expect(await answer(trusting, token)).toEqual(accepted);
      expect(await answer(configured, token)).toEqual(accepted);
    } finally {
      delete own.discovery.jwks_uri;
      await Promise.all([misled.close(), trusting.close(), configured.close()]);
    }
  });

  it("refuses to start with plain-http IdPs or peers off loopback", () => {
    const insecure = {
      OIDC_DISCOVERY_URL: "http://idp.internal.example/.well-known/openid-configuration",
    };
    expect(startsWith(insecure)).toThrow(/https/);
    expect(startsWith({ ...insecure, OIDC_ALLOW_INSECURE_REQUESTS: "true" })).not.toThrow();
    expect(startsWith({ OIDC_JWKS_URI: "http://keys.internal.example/jwks" })).toThrow(/jwksUri/);
    const broker = { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" };
    expect(startsWith({ ...broker, OIDC_TRUSTED_ISSUERS: "http://peer.example.org" })).toThrow(
      /trustedIssuers/,
    );
    expect(
      startsWith({ ...broker, OIDC_TRUSTED_ISSUERS: "https://peer.example.org" }),
    ).not.toThrow();
    expect(startsWith({ ...broker, OIDC_TRUSTED_ISSUERS: "http://127.0.0.1:9" })).not.toThrow();
  });
});

describe("parsing and claim strictness", () => {
  let own: OwnIssuer;
  let ownStack: Stack;
  beforeAll(async () => {
    own = await startOwnIssuer();
    ownStack = await stackFor(own);
  });
  afterAll(async () => {
    await ownStack?.close();
    await own?.close();
  });

  /** The dev IdP's keys: what jose alone would accept. */
  async function joseAccepts(token: string): Promise<boolean> {
    const jwks = await (await fetch(`${stack.idp.issuer}/jwks`)).json();
    try {
      await jwtVerify(token, createLocalJWKSet(jwks), { clockTolerance: 30 });
      return true;
    } catch {
      return false;
    }
  }

  it("refuses a signature with = padding", async () => {
    expect(await answer(stack, `${valid}=`)).toEqual(refused);
    expect(await answer(stack, `${valid}==`)).toEqual(refused);
  });

  it("refuses a signature with non-canonical trailing bits", async () => {
    const [h, p, s] = valid.split(".") as [string, string, string];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = alphabet.indexOf(s.at(-1) as string);
    expect(s.length % 4).toBe(2); // 256 bytes: the last character holds 2 bits, 4 spare
    const respelt = `${h}.${p}.${s.slice(0, -1)}${alphabet[last | 1]}`;
    expect(await joseAccepts(respelt)).toBe(true); // the same bytes to jose
    expect(await answer(stack, respelt)).toEqual(refused);
  });

  it("refuses a zip header in a JWS", async () => {
    const zipped = await stack.idp.signJwt(claims, { zip: "DEF" });
    expect(await joseAccepts(zipped)).toBe(true);
    expect(await answer(stack, zipped)).toEqual(refused);
  });

  it("refuses a payload starting with a UTF-8 byte order mark", async () => {
    const json = JSON.stringify(own.claims(API));
    expect(await answer(ownStack, await own.sign(`\uFEFF${json}`))).toEqual(refused);
    expect(await answer(ownStack, await own.sign(json))).toEqual(accepted);
  });

  it("refuses exp, iat or nbf that are not finite integers (1e309 never expires)", async () => {
    const base = own.claims(API);
    for (const [claim, text] of [
      ["exp", "1e309"],
      ["exp", `${base.exp}.5`],
      ["iat", "-1e309"],
      ["nbf", "1e309"],
    ] as const) {
      const { [claim]: _replaced, ...rest } = base;
      // JSON text by hand: 1e309 is no JavaScript number that JSON.stringify could write
      const raw = JSON.stringify(rest).replace(/}$/, `,"${claim}":${text}}`);
      expect(await answer(ownStack, await own.sign(raw)), `${claim} ${text}`).toEqual(refused);
    }
  });

  it("refuses iat in the future beyond the clock tolerance", async () => {
    const t = now();
    expect(await answer(stack, await stack.idp.signJwt({ ...claims, iat: t + 3600 }))).toEqual(
      refused,
    );
    expect(await answer(stack, await stack.idp.signJwt({ ...claims, iat: t + 10 }))).toEqual(
      accepted,
    );
  });

  it("refuses an empty or oversized sub", async () => {
    expect(await answer(stack, await stack.idp.signJwt({ ...claims, sub: "" }))).toEqual(refused);
    const long = await stack.idp.signJwt({ ...claims, sub: "s".repeat(1025) });
    expect(await answer(stack, long)).toEqual(refused);
    const spec = await stack.idp.signJwt({ ...claims, sub: "s".repeat(255) });
    expect(await answer(stack, spec)).toEqual(accepted);
  });

  it("refuses a claim nested 2,500 deep with 401 before the handler", async () => {
    // JSON text by hand: JSON.stringify itself overflows the stack on such a value
    const withClaim = (json: string) =>
      own.sign(JSON.stringify(own.claims(API)).replace(/}$/, `,"deep":${json}}`));
    const deep = `${"[".repeat(2500)}${"]".repeat(2500)}`;
    expect(await answer(ownStack, await withClaim(deep))).toEqual(refused);
    const nested = (depth: number) => `${'{"n":'.repeat(depth)}"leaf"${"}".repeat(depth)}`;
    expect(await answer(ownStack, await withClaim(nested(32)))).toEqual(accepted); // MAX_CLAIM_DEPTH
    expect(await answer(ownStack, await withClaim(nested(33)))).toEqual(refused);
  });

  it("applies the same pre-check to broker tokens", async () => {
    const broker = await startStack({
      idp: stack.idp,
      env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" },
    });
    try {
      const token = (await loginTokens(broker)).access_token;
      expect(await answer(broker, token)).toEqual(accepted);
      const [h, p, sig] = token.split(".") as [string, string, string];
      expect(await answer(broker, `${token}=`)).toEqual(refused);
      expect(await answer(broker, `${h}.77u_${p}.${sig}`)).toEqual(refused);
      const respelt = `${h}.${p}.${sig.slice(0, -1)}${sig.endsWith("B") ? "C" : "B"}`;
      expect(await answer(broker, respelt)).toEqual(refused);
    } finally {
      await broker.close();
    }
  });

  it("refuses a token in both the Authorization header and the query", async () => {
    const both = await getWithToken(`${stack.url}/api/me?access_token=${valid}`, valid);
    expect(both.status).toBe(400);
    expect(both.headers.get("www-authenticate")).toMatch(/error="invalid_request"/);
    expect(await both.json()).toMatchObject({ error: "invalid_request" });
    const queryOnly = await fetch(`${stack.url}/api/me?access_token=${valid}`);
    expect(queryOnly.status).toBe(401); // the query is never read
    expect(queryOnly.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
  });
});

/** A fetch that never answers: each call ends only when its caller's timeout aborts it. */
function blackHole(calls: string[]): typeof fetch {
  return (input, init) => {
    calls.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
    return new Promise((_resolve, reject) => {
      const signal = init?.signal;
      signal?.addEventListener("abort", () => reject(signal.reason));
    });
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

describe("an IdP outage", () => {
  it("fails fast with 503 after one timed-out discovery, without asking again", async () => {
    const calls: string[] = [];
    const cold = await startStack({
      idp: stack.idp,
      options: { fetch: blackHole(calls), timeoutSec: 2 },
    });
    try {
      const first = await timed(() => answer(cold, valid));
      expect(first.value).toEqual({ status: 503, error: "temporarily_unavailable" });
      const rest = await timed(async () => {
        const answers = [];
        for (let i = 0; i < 5; i++) answers.push(await answer(cold, valid));
        return answers;
      });
      expect(rest.value).toEqual(Array(5).fill({ status: 503, error: "temporarily_unavailable" }));
      expect(rest.ms).toBeLessThan(2000); // five timeouts would take 10 s
      expect(calls).toEqual(["/.well-known/openid-configuration"]);
    } finally {
      await cold.close();
    }
  });

  it("answers from cached keys at once while the JWKS cannot be fetched", async () => {
    const calls: string[] = [];
    let down = false;
    const hole = blackHole(calls);
    const flaky: typeof fetch = (input, init) => (down ? hole(input, init) : fetch(input, init));
    const cached = await startStack({
      idp: stack.idp,
      env: { OIDC_JWKS_MAX_AGE_SEC: "1" },
      options: { fetch: flaky, timeoutSec: 2 },
    });
    try {
      expect(await answer(cached, valid)).toEqual(accepted);
      down = true;
      await new Promise((resolve) => setTimeout(resolve, 1100)); // keys and cache entry stale
      expect(await answer(cached, valid)).toEqual(accepted); // waited for one fetch
      const rest = await timed(async () => {
        const answers = [];
        for (let i = 0; i < 5; i++) answers.push(await answer(cached, valid));
        const unknownKid = await stack.idp.signJwt(claims, { kid: "not-published" });
        answers.push(await answer(cached, unknownKid));
        return answers;
      });
      expect(rest.value).toEqual([...Array(5).fill(accepted), refused]);
      expect(rest.ms).toBeLessThan(2000);
      expect(calls).toEqual(["/jwks"]);
    } finally {
      await cached.close();
    }
  });
});
