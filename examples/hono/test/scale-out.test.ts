/**
 * Issue 12, the scale-out proof: three instances of the Hono example (processes of their
 * own) on one Postgres, behind a round-robin proxy on 127.0.0.1 that sends each request
 * to the next instance. Every flow is driven through the proxy, so consecutive steps of
 * one login or refresh land on different instances. The Postgres is the test's own
 * (initdb into a temporary folder, its own port), so that it may be restarted; the
 * machine's shared server is never touched. (The single-instance PGlite runs of the same
 * flows are broker-stores.test.ts and conformance.test.ts.)
 */
import { OIDCAuth, optionsFromEnv, silentLogger } from "@oidc-auth/core";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { calculatePKCECodeChallenge, generateRandomCodeVerifier } from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Instance, startInstance } from "../../../test-support/hono-instances.js";
import { type OwnPostgres, startOwnPostgres } from "../../../test-support/own-postgres.js";
import { type RoundRobin, startRoundRobin } from "../../../test-support/round-robin.js";
import type { Stack, TokenJson } from "./support.js";
import { browserLogin, getWithToken, postToken, TEST_SECRET } from "./support.js";

/** Rereading keys every 2 s: the rotation bound this test holds the instances to. */
const KEY_RELOAD_SEC = 2;

let idp: DevIdp;
let pg: OwnPostgres;
let proxy: RoundRobin;
const backends: string[] = [];
let instances: Instance[] = [];
/** An admin tool on the same store and configuration (rotates keys, reads sessions). */
let admin: OIDCAuth;
/** The proxy, posing as a stack for the support helpers. */
let front: Stack;

function instanceEnv(): Record<string, string> {
  const client = idp.clients.find((c) => c.clientSecret) ?? idp.clients[0];
  return {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: client?.clientId ?? "",
    OIDC_CLIENT_SECRET: client?.clientSecret ?? "",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: TEST_SECRET,
    OIDC_ALLOW_LOOPBACK_REDIRECTS: "true",
    OIDC_PROXY: proxy.url,
    OIDC_REDIRECT_URIS: `${proxy.url}/callback`,
    OIDC_BROKER_MODE: "true",
    OIDC_BROKER_STORE_URL: pg.url,
    OIDC_BROKER_AUDIENCE: "scale-api",
    OIDC_CLIENT_IP_HEADER: "x-forwarded-for",
    OIDC_KEY_RELOAD_SEC: String(KEY_RELOAD_SEC),
    // A rotation lease of 3 × 2 s + 3 s: an instance killed mid-rotation holds it 9 s.
    OIDC_TIMEOUT_SEC: "2",
    // Rate limits are proven elsewhere; here 50 refreshes of one credential must all reach it.
    OIDC_RATE_LIMITS: "false",
  };
}

beforeAll(async () => {
  [idp, pg] = await Promise.all([startDevIdp(), startOwnPostgres()]);
  proxy = await startRoundRobin(backends);
  const env = instanceEnv();
  // The first instance migrates the empty database; the others start together.
  instances = [await startInstance(env)];
  instances.push(...(await Promise.all([startInstance(env), startInstance(env)])));
  backends.push(...instances.map((i) => i.url));
  admin = new OIDCAuth({ ...optionsFromEnv(env), logger: silentLogger });
  front = {
    idp,
    app: undefined as never,
    url: proxy.url,
    redirectUri: `${proxy.url}/callback`,
    close: async () => {},
  };
}, 120_000);

afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  await admin?.close();
  await proxy?.close();
  await idp?.stop();
  await pg?.stop();
}, 60_000);

const idpTokenCalls = () => idp.hits.get("/token") ?? 0;
const refresh = (base: string, credential: string | undefined) =>
  postToken({ ...front, url: base }, { "refresh-token": credential as string });

async function login(username = "alice"): Promise<TokenJson> {
  const response = await browserLogin(front, username);
  expect(response.status).toBe(200);
  return (await response.json()) as TokenJson;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

describe("three instances on one Postgres behind a round-robin proxy", () => {
  it("serves a browser-style code login whose callback lands on another instance", async () => {
    const before = [...proxy.served.values()];
    const tokens = await login();
    const after = [...proxy.served.values()];
    // login and callback went to two different instances
    expect(after.filter((n, i) => n > (before[i] ?? 0))).toHaveLength(2);
    expect(decodeJwt(tokens.access_token).iss).toBe(proxy.url);
    for (const base of backends) {
      expect((await getWithToken(`${base}/api/me`, tokens.access_token)).status).toBe(200);
    }
  });

  it("serves a native login whose code exchange lands on another instance", async () => {
    const verifier = generateRandomCodeVerifier();
    const redirectUri = "http://127.0.0.1:49152/callback";
    const start = await fetch(
      `${proxy.url}/api/auth/v2/login?${new URLSearchParams({
        redirect_uri: redirectUri,
        code_challenge: await calculatePKCECodeChallenge(verifier),
        code_challenge_method: "S256",
      })}`,
      { redirect: "manual" },
    );
    expect(start.status).toBe(302);
    const redirect = await idp.completeLogin(
      start.headers.get("location") as string,
      "bob",
      "bob-password",
    );
    const answer = await postToken(front, {
      code: redirect.searchParams.get("code") as string,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(answer.status).toBe(200);
    expect(decodeJwt(((await answer.json()) as TokenJson).access_token).preferred_username).toBe(
      "bob",
    );
  });

  it("serves the device flow, each poll on the next instance", async () => {
    const started = await fetch(`${proxy.url}/api/auth/v2/device`, { method: "POST" });
    expect(started.status).toBe(200);
    const device = (await started.json()) as Record<string, string | number>;
    await idp.approveDevice(device.user_code as string, "bob", "bob-password");
    let response: Response | undefined;
    for (let poll = 0; poll < 12; poll++) {
      await new Promise((r) => setTimeout(r, Number(device.interval ?? 1) * 1000));
      response = await postToken(front, { "device-code": device.device_code as string });
      if (response.status === 200) break;
      expect(["authorization_pending", "slow_down"]).toContain(
        ((await response.json()) as { error: string }).error,
      );
    }
    expect(response?.status).toBe(200);
  }, 30_000);

  it("answers 50 concurrent refreshes of one credential with one IdP call, one winner, no revocation", async () => {
    const first = await login();
    const before = idpTokenCalls();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => refresh(proxy.url, first.refresh_token)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as TokenJson[];
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
    expect(idpTokenCalls()).toBe(before + 1);
    expect((await refresh(proxy.url, bodies[0]?.refresh_token)).status).toBe(200);
  }, 60_000);

  it("revokes the session on every instance when a credential retired three rotations ago comes back", async () => {
    const r1 = await login();
    let current = r1;
    for (let i = 0; i < 3; i++) {
      const response = await refresh(proxy.url, current.refresh_token);
      expect(response.status).toBe(200);
      current = (await response.json()) as TokenJson;
    }
    await new Promise((r) => setTimeout(r, 2100)); // past the 2 s reuse grace
    expect((await refresh(proxy.url, r1.refresh_token)).status).toBe(400);
    for (const base of backends) {
      const response = await refresh(base, current.refresh_token);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: "invalid_grant" });
    }
  }, 30_000);

  it(`after a key rotation, every instance signs with and accepts the new key within ${KEY_RELOAD_SEC} s`, async () => {
    const rotatedAt = Date.now();
    const { kid } = await admin.rotateSigningKey();
    // A token of the new key is accepted by every instance at once.
    const minted = await admin.mintBrokerToken({ sub: "u-carol", preferred_username: "carol" });
    expect(decodeProtectedHeader(minted.access_token).kid).toBe(kid);
    for (const base of backends) {
      expect((await getWithToken(`${base}/api/me`, minted.access_token)).status).toBe(200);
    }
    // Within the bound every instance signs with it and publishes it.
    await new Promise((r) => setTimeout(r, KEY_RELOAD_SEC * 1000 + 200 - (Date.now() - rotatedAt)));
    for (const base of backends) {
      const tokens = (await (
        await postToken(
          { ...front, url: base },
          { "refresh-token": (await login()).refresh_token as string },
        )
      ).json()) as TokenJson;
      expect(decodeProtectedHeader(tokens.access_token).kid).toBe(kid);
      const published = await fetch(`${base}/api/auth/v2/.well-known/jwks.json`);
      expect(published.headers.get("cache-control")).toBe(`public, max-age=${KEY_RELOAD_SEC}`);
      const keys = ((await published.json()) as { keys: { kid: string }[] }).keys;
      expect(keys[0]?.kid).toBe(kid);
    }
    const store = await admin.brokerStore();
    const active = (await store.listSigningKeys()).filter((k) => k.retiredAt === null);
    expect(active.map((k) => k.kid)).toEqual([kid]);
  }, 60_000);

  it("loses no session when an instance is killed in the middle of a rotation", async () => {
    const store = await admin.brokerStore();
    const credential = (await login()).refresh_token as string;
    const hash = await sha256Hex(credential);
    const session = await store.findSessionByRefreshHash(hash);
    if (!session) throw new Error("no session");
    // Behind the app's back, the database makes this session's rotation slow at its last
    // step (the UPDATE that completes it sleeps 3 s), so that the victim is surely killed
    // after it asked the IdP and before the rotation is stored.
    await pg.sql(`
      CREATE FUNCTION test_slow_rotation() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.id = '${session.id}' AND NEW.refresh_hash <> OLD.refresh_hash THEN
          PERFORM pg_sleep(3);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_slow_rotation BEFORE UPDATE ON oidc_auth_sessions
        FOR EACH ROW EXECUTE FUNCTION test_slow_rotation();`);
    try {
      const victim = instances[2] as Instance;
      const before = idpTokenCalls();
      const inFlight = refresh(victim.url, credential).catch(() => undefined);
      while (idpTokenCalls() === before) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 500)); // the victim now waits on its last UPDATE
      victim.kill();
      expect(await inFlight).toBeUndefined(); // the client got no answer
      await new Promise((r) => setTimeout(r, 300));
      const left = await store.findSessionByRefreshHash(hash);
      expect(left?.refreshHash).toBe(hash); // the rotation was never stored
      expect(left?.rotationLease).not.toBeNull(); // and its lease is held by the dead
      // A load balancer replaces the dead instance.
      const replacement = await startInstance(instanceEnv());
      instances[2] = replacement;
      backends[backends.indexOf(victim.url)] = replacement.url;
    } finally {
      await pg.sql(
        "DROP TRIGGER test_slow_rotation ON oidc_auth_sessions; DROP FUNCTION test_slow_rotation();",
      );
    }
    // The client never got an answer and retries through the proxy: once the dead
    // instance's lease runs out, another instance rotates. Never a revocation.
    const retry = await refresh(proxy.url, credential);
    expect(retry.status).toBe(200);
    const next = (await retry.json()) as TokenJson;
    expect((await refresh(proxy.url, next.refresh_token)).status).toBe(200);
    expect((await store.findSessionByRefreshHash(hash))?.retiredHashes).toContain(hash);
  }, 90_000);

  it("answers 503 while Postgres restarts mid-load, loses no session, and recovers without an app restart", async () => {
    const sessions = await Promise.all(["alice", "bob", "alice", "bob"].map((u) => login(u)));
    const credentials = sessions.map((s) => s.refresh_token as string);
    const statuses = new Map<number, number>();
    let restarted = false;
    const okAfterRestart = new Set<number>();
    const restart = (async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await pg.restart(1500);
      restarted = true;
    })();
    const deadline = Date.now() + 45_000;
    await Promise.all(
      credentials.map(async (_, index) => {
        while (Date.now() < deadline && !(restarted && okAfterRestart.has(index))) {
          const response = await refresh(proxy.url, credentials[index]).catch(() => undefined);
          const status = response?.status ?? 0;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (response && status === 200) {
            credentials[index] = ((await response.json()) as TokenJson).refresh_token as string;
            if (restarted) okAfterRestart.add(index);
          } else {
            await response?.body?.cancel();
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }),
    );
    await restart;
    // Only successes and 503s: no 500, no revocation.
    expect([...statuses.keys()].sort()).toEqual([200, 503]);
    expect(okAfterRestart.size).toBe(credentials.length);
    // and new logins work again
    expect((await login("bob")).access_token).toBeTruthy();
  }, 90_000);
});
