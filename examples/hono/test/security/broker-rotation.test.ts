import { MemoryBrokerStore } from "@oidc-auth/core";
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Stack, TokenJson } from "../support.js";
import { browserLogin, loginTokens, postToken, startStack } from "../support.js";

/**
 * Issue 12, items 1–3 and 10: the refresh rotation of broker sessions. Real dev IdP, real
 * HTTP through the Hono example; the IdP's answers are altered by a fetch wrapper only
 * where a real IdP will not fail on demand (errors, slowness, a rotated key, another user's
 * ID token).
 */

type Fault =
  | { kind: "none" }
  | { kind: "status"; status: number; body: Record<string, unknown> | string }
  | { kind: "slow"; ms: number }
  | { kind: "foreign-id-token"; idToken: string };

let fault: Fault = { kind: "none" };
/** After a simulated key rotation of the IdP: ID tokens re-signed with this key, published in its JWKS. */
let rotatedKey: { privateKey: CryptoKey; jwk: JWK } | undefined;
let jwksFetches = 0;
/** The latest ID token the IdP issued, by subject. */
const idTokens = new Map<string, string>();

async function resign(idToken: string): Promise<string> {
  if (!rotatedKey) return idToken;
  return new SignJWT(decodeJwt(idToken))
    .setProtectedHeader({ alg: "RS256", kid: rotatedKey.jwk.kid as string })
    .sign(rotatedKey.privateKey);
}

const idpFetch: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  const body = init?.body instanceof URLSearchParams ? init.body : undefined;
  const isRefresh = url.endsWith("/token") && body?.get("grant_type") === "refresh_token";
  if (url.endsWith("/jwks")) {
    jwksFetches++;
    const response = await fetch(input, init);
    if (!rotatedKey) return response;
    const set = (await response.json()) as { keys: JWK[] };
    return Response.json({ keys: [...set.keys, rotatedKey.jwk] });
  }
  if (isRefresh && fault.kind === "status") {
    const { status, body: payload } = fault;
    return typeof payload === "string"
      ? new Response(payload, { status })
      : Response.json(payload, { status });
  }
  const injected = fault;
  if (isRefresh && injected.kind === "slow") await new Promise((r) => setTimeout(r, injected.ms));
  const response = await fetch(input, init);
  if (!url.endsWith("/token") || response.status !== 200) return response;
  const tokens = (await response.json()) as Record<string, unknown>;
  if (typeof tokens.id_token === "string") {
    idTokens.set(decodeJwt(tokens.id_token).sub as string, tokens.id_token);
    tokens.id_token = await resign(tokens.id_token);
    if (isRefresh && fault.kind === "foreign-id-token") tokens.id_token = fault.idToken;
  }
  return Response.json(tokens, { status: 200, headers: { "cache-control": "no-store" } });
};

/** A memory store whose rotation write fails while `failing` is set (a store outage at that moment). */
class FlakyStore extends MemoryBrokerStore {
  failing = false;
  override async completeRotation(...args: Parameters<MemoryBrokerStore["completeRotation"]>) {
    if (this.failing) throw new Error("connection lost");
    return super.completeRotation(...args);
  }
}

const store = new FlakyStore();
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_AUDIENCE: "oidc-auth-example" },
    options: { fetch: idpFetch, brokerStore: store },
  });
});
afterAll(async () => {
  await stack?.close();
});
afterEach(() => {
  fault = { kind: "none" };
  store.failing = false;
  vi.useRealTimers();
});

const idpTokenCalls = () => stack.idp.hits.get("/token") ?? 0;

async function refresh(credential: string | undefined): Promise<Response> {
  return postToken(stack, { "refresh-token": credential as string });
}

async function refreshed(credential: string | undefined): Promise<TokenJson> {
  const response = await refresh(credential);
  expect(response.status).toBe(200);
  return (await response.json()) as TokenJson;
}

/** Moves the app's clock past the reuse grace (2 s). */
function pastTheGrace(): void {
  vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 5000 });
}

describe("reuse detection reaches the whole family", () => {
  it("revokes the session when a credential retired three rotations ago is presented", async () => {
    const r1 = await loginTokens(stack);
    const r2 = await refreshed(r1.refresh_token);
    const r3 = await refreshed(r2.refresh_token);
    const r4 = await refreshed(r3.refresh_token);
    pastTheGrace();
    const replay = await refresh(r1.refresh_token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_grant" });
    // The current credential died with the session.
    expect((await refresh(r4.refresh_token)).status).toBe(400);
  });

  it("revokes the thief's credential when the victim presents the one stolen two rotations ago", async () => {
    const victim = await loginTokens(stack);
    const thief1 = await refreshed(victim.refresh_token);
    const thief2 = await refreshed(thief1.refresh_token);
    pastTheGrace();
    expect((await refresh(victim.refresh_token)).status).toBe(400);
    expect((await refresh(thief2.refresh_token)).status).toBe(400);
    expect((await refresh(thief1.refresh_token)).status).toBe(400);
  });
});

describe("a failed or abandoned rotation never becomes a revocation", () => {
  it("answers 503 when the rotation cannot be stored, and the retry succeeds", async () => {
    const first = await loginTokens(stack);
    store.failing = true;
    const failed = await refresh(first.refresh_token);
    expect(failed.status).toBe(503);
    store.failing = false;
    const retry = await refresh(first.refresh_token);
    expect(retry.status).toBe(200);
    const next = (await retry.json()) as TokenJson;
    expect((await refresh(next.refresh_token)).status).toBe(200);
  });

  it("lets a retry rotate once the lease of an instance that died mid-rotation runs out", async () => {
    const first = await loginTokens(stack);
    const session = await store.findSessionByRefreshHash(await sha256Hex(first.refresh_token));
    if (!session) throw new Error("no session");
    // What a process leaves behind that claimed the rotation and died before completing it.
    const t = Math.floor(Date.now() / 1000);
    expect(await store.claimRotation(session.id, session.refreshHash, "dead", t + 1, t)).toBe(true);
    const retry = await refresh(first.refresh_token);
    expect(retry.status).toBe(200);
    const next = (await retry.json()) as TokenJson;
    expect((await refresh(next.refresh_token)).status).toBe(200);
  });

  it("counts the grace from when the answer was stored: an IdP slower than the grace", async () => {
    const first = await loginTokens(stack);
    fault = { kind: "slow", ms: 3000 };
    const slow = await refreshed(first.refresh_token);
    fault = { kind: "none" };
    // The client lost that answer and retries at once: the same answer, no revocation.
    const retry = await refreshed(first.refresh_token);
    expect(retry.refresh_token).toBe(slow.refresh_token);
    expect((await refresh(slow.refresh_token)).status).toBe(200);
  });
});

describe("only the IdP's invalid_grant ends a session", () => {
  const keeps: [string, Fault, number][] = [
    ["invalid_scope", { kind: "status", status: 400, body: { error: "invalid_scope" } }, 502],
    ["invalid_request", { kind: "status", status: 400, body: { error: "invalid_request" } }, 502],
    ["429 with a body", { kind: "status", status: 429, body: { error: "slow_down" } }, 503],
    ["429 without a body", { kind: "status", status: 429, body: "busy" }, 503],
    ["500", { kind: "status", status: 500, body: { error: "server_error" } }, 503],
  ];
  for (const [name, injected, status] of keeps) {
    it(`keeps the session when the IdP answers ${name} (${status})`, async () => {
      const first = await loginTokens(stack);
      fault = injected;
      const response = await refresh(first.refresh_token);
      expect(response.status).toBe(status);
      fault = { kind: "none" };
      expect((await refresh(first.refresh_token)).status).toBe(200);
    });
  }

  it("ends the session on the IdP's invalid_grant (400)", async () => {
    const first = await loginTokens(stack);
    fault = { kind: "status", status: 400, body: { error: "invalid_grant" } };
    const dead = await refresh(first.refresh_token);
    expect(dead.status).toBe(400);
    expect(await dead.json()).toMatchObject({ error: "invalid_grant" });
    fault = { kind: "none" };
    expect((await refresh(first.refresh_token)).status).toBe(400);
  });
});

describe("refresh and key rotation follow OpenID Connect Core", () => {
  it("ends the session when the refreshed ID token names another user", async () => {
    await loginTokens(stack, "bob");
    const bobsIdToken = idTokens.get("u-bob") as string;
    const alice = await loginTokens(stack, "alice");
    fault = { kind: "foreign-id-token", idToken: bobsIdToken };
    const response = await refresh(alice.refresh_token);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_grant" });
    fault = { kind: "none" };
    expect((await refresh(alice.refresh_token)).status).toBe(400);
  });

  it("fetches the IdP's keys once, at once, for an ID token signed by a new kid", async () => {
    await loginTokens(stack); // keys cached; the cooldown for unknown kids runs from here
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "rotated-at-the-idp", alg: "RS256" };
    rotatedKey = { privateKey, jwk };
    try {
      const before = jwksFetches;
      const responses = await Promise.all([browserLogin(stack), browserLogin(stack, "bob")]);
      expect(responses.map((r) => r.status)).toEqual([200, 200]);
      expect(jwksFetches - before).toBe(1);
      // and the refresh's ID token, signed by the new key too, is accepted
      const tokens = (await responses[0]?.json()) as TokenJson;
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe("at+jwt");
      expect((await refresh(tokens.refresh_token)).status).toBe(200);
    } finally {
      rotatedKey = undefined;
    }
  });

  it("makes one IdP call for concurrent refreshes of one credential", async () => {
    const first = await loginTokens(stack);
    const before = idpTokenCalls();
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => refresh(first.refresh_token)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(idpTokenCalls()).toBe(before + 1);
  });
});

async function sha256Hex(text: string | undefined): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text ?? "")),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
