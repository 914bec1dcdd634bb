/**
 * Rate limits over HTTP through the Hono example on @hono/node-server (the client address
 * is the socket's, 127.0.0.1): bursts meet 429 `slow_down` with `Retry-After`, forwarded
 * addresses count only when configured, one endpoint can be switched off, and instances on
 * one Postgres database share their buckets.
 */
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { createBrokerStore } from "@oidc-auth/drizzle";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../../packages/drizzle/test/postgres.js";
import { createTestDatabase } from "../../../../packages/drizzle/test/postgres.js";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack } from "../support.js";
import { postToken, startStack } from "../support.js";

let idp: DevIdp;
beforeAll(async () => {
  idp = await startDevIdp();
});
afterAll(async () => {
  await idp?.stop();
});

/** Starts a browser login; `headers` are sent as given (e.g. X-Forwarded-For). */
function login(stack: Stack, headers: Record<string, string> = {}): Promise<Response> {
  const query = new URLSearchParams({ redirect_uri: stack.redirectUri });
  return fetch(`${stack.url}/api/auth/v2/login?${query}`, { redirect: "manual", headers });
}

/** Sends `count` requests made by `send`, `batch` at a time; answers their statuses in order. */
async function burst(
  count: number,
  send: (i: number) => Promise<Response>,
  batch = 25,
): Promise<Response[]> {
  const responses: Response[] = [];
  for (let i = 0; i < count; i += batch) {
    const chunk = Array.from({ length: Math.min(batch, count - i) }, (_, j) => send(i + j));
    responses.push(...(await Promise.all(chunk)));
  }
  return responses;
}

/** Limits small enough that a test reaches them in a few requests, refilling very slowly. */
const tiny = (capacity: number) => ({ capacity, refillPerSec: 0.001 });

describe("with the default limits", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ idp });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("meets a burst of 150 logins with 429 slow_down and Retry-After, after the first 100", async () => {
    const responses = await burst(150, () => login(stack));
    const statuses = responses.map((r) => r.status);
    expect(statuses.slice(0, 100)).toEqual(Array(100).fill(302));
    const refused = responses.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(25);
    expect(statuses.every((s) => s === 302 || s === 429)).toBe(true);
    const first = refused[0] as Response;
    expect(first.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    const body = await expectJsonError(first, 429, "slow_down");
    expect(body.detail).toBe(body.error_description);
    await Promise.all(refused.slice(1).map((r) => r.arrayBuffer()));

    // Retry-After is honest: after it, the address may log in again.
    await new Promise((r) => setTimeout(r, Number(first.headers.get("retry-after")) * 1000));
    expect((await login(stack)).status).toBe(302);
  }, 60_000);

  it("meets 100 random device codes with 429 slow_down before the identity provider sees them all", async () => {
    const responses = await burst(100, () =>
      postToken(stack, { "device-code": crypto.randomUUID() }),
    );
    const refused = responses.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(10);
    for (const r of responses.filter((r) => r.status !== 429)) {
      await expectJsonError(r, 400);
    }
    await expectJsonError(refused[0] as Response, 429, "slow_down");
  }, 60_000);

  it("does not take X-Forwarded-For from clients: a burst with forged addresses is still one address", async () => {
    const fresh = await startStack({
      idp,
      env: { OIDC_RATE_LIMITS: JSON.stringify({ login: { ip: tiny(3) } }) },
    });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const response = await login(fresh, { "x-forwarded-for": `203.0.113.${i}` });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toEqual([302, 302, 302, 429, 429]);
    } finally {
      await fresh.close();
    }
  });
});

describe("configured", () => {
  it("switched off for login, leaves logins unlimited and the other endpoints limited", async () => {
    const stack = await startStack({
      idp,
      env: { OIDC_RATE_LIMITS: JSON.stringify({ login: false, token: { ip: tiny(5) } }) },
    });
    try {
      const logins = await burst(150, () => login(stack));
      expect(logins.map((r) => r.status)).toEqual(Array(150).fill(302));
      const tokens = await burst(6, () => postToken(stack, { "refresh-token": "x" }), 1);
      expect(tokens.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 429]);
    } finally {
      await stack.close();
    }
  }, 60_000);

  it("behind a proxy (clientIpHeader), counts each forwarded address apart, by the entry the proxy added", async () => {
    const stack = await startStack({
      idp,
      env: {
        OIDC_CLIENT_IP_HEADER: "X-Forwarded-For",
        OIDC_RATE_LIMITS: JSON.stringify({ login: { ip: tiny(2) } }),
      },
    });
    try {
      const from = async (xff: string) => {
        const response = await login(stack, { "x-forwarded-for": xff });
        await response.arrayBuffer();
        return response.status;
      };
      expect(await from("198.51.100.7, 203.0.113.1")).toBe(302);
      expect(await from("203.0.113.1")).toBe(302);
      // A client's own entry in front of the proxy's changes nothing.
      expect(await from("198.51.100.8, 203.0.113.1")).toBe(429);
      expect(await from("203.0.113.2")).toBe(302);
      // IPv6: one /64 is one client.
      expect(await from("2001:db8:1:2::a")).toBe(302);
      expect(await from("2001:db8:1:2:ffff::b")).toBe(302);
      expect(await from("2001:db8:1:2::c")).toBe(429);
      expect(await from("2001:db8:1:3::a")).toBe(302);
    } finally {
      await stack.close();
    }
  });

  it("limits one credential however many addresses send it", async () => {
    const stack = await startStack({
      idp,
      env: {
        OIDC_CLIENT_IP_HEADER: "x-real-ip",
        OIDC_RATE_LIMITS: JSON.stringify({ token: { credential: tiny(3) } }),
      },
    });
    try {
      const refresh = (token: string, address: string) =>
        fetch(`${stack.url}/api/auth/v2/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "x-real-ip": address },
          body: new URLSearchParams({ "refresh-token": token }),
        });
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        const response = await refresh("one-stolen-credential", `203.0.113.${i + 10}`);
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toEqual([400, 400, 400, 429]);
      // Under its RFC name, and beside a decoy code: still the same credential.
      const renamed = await fetch(`${stack.url}/api/auth/v2/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-real-ip": "192.0.2.1" },
        body: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: "one-stolen-credential",
          code: "decoy",
        }),
      });
      await expectJsonError(renamed, 429, "slow_down");
      const other = await refresh("another-credential", "203.0.113.10");
      await expectJsonError(other, 400);
    } finally {
      await stack.close();
    }
  });
});

describe("broker mode on one Postgres database", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** An instance in broker mode with its own connection to the database. */
  const startInstance = (limits: unknown) =>
    startStack({
      idp,
      env: { OIDC_BROKER_MODE: "true", OIDC_RATE_LIMITS: JSON.stringify(limits) },
      options: { brokerStore: () => createBrokerStore(database.url) },
    });

  it("two instances share one bucket", async () => {
    const a = await startInstance({ login: { ip: tiny(6) } });
    const b = await startInstance({ login: { ip: tiny(6) } });
    try {
      const statuses = [];
      for (const stack of [a, b, a, b, a, b, a, b]) {
        const response = await login(stack);
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toEqual([302, 302, 302, 302, 302, 302, 429, 429]);
      const rows = await database.sql`select key from oidc_auth_rate_limits`;
      expect(rows.map((r) => r.key)).toEqual(["login:ip:127.0.0.1"]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("keeps no credential in the store, only its hash", async () => {
    const stack = await startInstance({});
    try {
      const credential = `secret-refresh-${crypto.randomUUID()}`;
      await (await postToken(stack, { "refresh-token": credential })).arrayBuffer();
      const rows = await database.sql`select key from oidc_auth_rate_limits`;
      const keys = rows.map((r) => String(r.key));
      expect(keys).toContain("token:ip:127.0.0.1");
      expect(keys.some((k) => /^token:credential:[\w-]{43}$/.test(k))).toBe(true);
      expect(keys.join()).not.toContain(credential);
    } finally {
      await stack.close();
    }
  });

  it("counts in the instance while the store fails: no 500, the limit still holds", async () => {
    const store = await createBrokerStore(database.url);
    const stack = await startStack({
      idp,
      env: {
        OIDC_BROKER_MODE: "true",
        OIDC_RATE_LIMITS: JSON.stringify({ login: { ip: tiny(2) } }),
      },
      options: { brokerStore: store },
    });
    try {
      // The shared bucket of this address is empty: any 302 below is the instance's own count.
      const now = Date.now() / 1000;
      while ((await store.takeRateLimitToken?.("login:ip:127.0.0.1", tiny(2), now))?.allowed);
      await store.close(); // every query now fails
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const response = await login(stack);
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toEqual([302, 302, 429]);
    } finally {
      await stack.close();
    }
  });
});
