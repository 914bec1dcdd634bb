import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createClient } from "@libsql/client";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestMysqlDatabase } from "../../../packages/drizzle/test/mariadb.js";
import type { TestDatabase } from "../../../packages/drizzle/test/postgres.js";
import { createTestDatabase } from "../../../packages/drizzle/test/postgres.js";
import type { Stack, TokenJson } from "./support.js";
import { getWithToken, loginTokens, postToken, startStack } from "./support.js";

/** Every refresh token the IdP hands out, and a switch to make its token endpoint unreachable. */
const idpRefreshTokens = new Set<string>();
let idpDown = false;
const recording: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  if (url.endsWith("/token") && idpDown) throw new TypeError("fetch failed");
  const response = await fetch(input, init);
  if (url.endsWith("/token") && response.ok) {
    const body = (await response.clone().json()) as { refresh_token?: string };
    if (body.refresh_token) idpRefreshTokens.add(body.refresh_token);
  }
  return response;
};

let idp: DevIdp;
beforeAll(async () => {
  idp = await startDevIdp();
});
afterAll(async () => {
  await idp?.stop();
});

interface StoreUnderTest {
  name: string;
  open(): Promise<{
    url: string;
    dump(stack: Stack, sessionIds: string[]): Promise<string>;
    cleanup(): Promise<void>;
  }>;
}

/** Reads the rows back through the store (PGlite is single-process: no second connection). */
async function dumpThroughStore(stack: Stack, sessionIds: string[]): Promise<string> {
  const store = await stack.app.auth.brokerStore();
  const keys = await store.listSigningKeys();
  const sessions = await Promise.all(sessionIds.map((id) => store.getSession(id)));
  return JSON.stringify({ keys, sessions });
}

const stores: StoreUnderTest[] = [
  {
    name: "PGlite (embedded)",
    async open() {
      const dir = await mkdtemp(join(tmpdir(), "oidc-auth-broker-"));
      return {
        url: `pglite://${dir}`,
        dump: dumpThroughStore,
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "Postgres (py-oidc-auth's postgresql+asyncpg:// URL)",
    async open() {
      const database: TestDatabase = await createTestDatabase();
      return {
        url: database.url.replace(/^postgres:/, "postgresql+asyncpg:"),
        async dump() {
          const keys = await database.sql`select * from oidc_auth_signing_keys`;
          const sessions = await database.sql`select * from oidc_auth_sessions`;
          const peers = await database.sql`select * from oidc_auth_peer_jwks`;
          return JSON.stringify({ keys, sessions, peers });
        },
        cleanup: () => database.drop(),
      };
    },
  },
  {
    name: "SQLite (py-oidc-auth's sqlite+aiosqlite:///relative/path URL)",
    async open() {
      const dir = await mkdtemp(join(tmpdir(), "oidc-auth-broker-sqlite-"));
      const file = join(dir, "broker.db");
      return {
        url: `sqlite+aiosqlite:///${relative(process.cwd(), file)}`,
        async dump() {
          // A second connection to the file, behind the store's back.
          const client = createClient({ url: `file:${file}` });
          try {
            const tables = ["signing_keys", "sessions", "retired_hashes", "peer_jwks"];
            const rows = await Promise.all(
              tables.map((t) => client.execute(`select * from oidc_auth_${t}`)),
            );
            return JSON.stringify(rows.map((r) => r.rows));
          } finally {
            client.close();
          }
        },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "MariaDB (py-oidc-auth's mysql+aiomysql:// URL)",
    async open() {
      const database = await createTestMysqlDatabase();
      return {
        url: database.url.replace(/^mysql:/, "mysql+aiomysql:"),
        async dump() {
          const tables = ["signing_keys", "sessions", "retired_hashes", "peer_jwks"];
          const rows = await Promise.all(
            tables.map((t) => database.query(`select * from oidc_auth_${t}`)),
          );
          return JSON.stringify(rows);
        },
        cleanup: () => database.drop(),
      };
    },
  },
];

for (const kind of stores) {
  describe(`broker mode on ${kind.name}`, () => {
    let stack: Stack;
    let db: Awaited<ReturnType<StoreUnderTest["open"]>>;
    const issued: TokenJson[] = [];

    beforeAll(async () => {
      db = await kind.open();
      stack = await startStack({
        idp,
        env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: db.url },
        options: { fetch: recording },
      });
    });
    afterAll(async () => {
      idpDown = false;
      await stack?.close();
      await db?.cleanup();
    });

    it("logs in and refreshes with rotation; a replay revokes the session", async () => {
      const first = await loginTokens(stack);
      issued.push(first);
      expect((await getWithToken(`${stack.url}/api/me`, first.access_token)).status).toBe(200);
      const second = (await (
        await postToken(stack, { "refresh-token": first.refresh_token as string })
      ).json()) as TokenJson;
      expect(second.refresh_token).not.toBe(first.refresh_token);
      issued.push(second);
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 5000 }); // past the reuse grace
      try {
        const replay = await postToken(stack, { "refresh-token": first.refresh_token as string });
        expect(replay.status).toBe(400);
      } finally {
        vi.useRealTimers();
      }
      expect(
        (await postToken(stack, { "refresh-token": second.refresh_token as string })).status,
      ).toBe(400);
    });

    it("makes one IdP call for 20 concurrent refreshes and keeps the session", async () => {
      const first = await loginTokens(stack);
      issued.push(first);
      const before = idp.hits.get("/token") ?? 0;
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          postToken(stack, { "refresh-token": first.refresh_token as string }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as TokenJson[];
      expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1);
      expect((idp.hits.get("/token") ?? 0) - before).toBe(1);
      const next = await postToken(stack, { "refresh-token": bodies[0]?.refresh_token as string });
      expect(next.status).toBe(200);
      issued.push((await next.json()) as TokenJson);
    });

    it("answers 503 while the IdP is down and refreshes once it is back", async () => {
      const first = await loginTokens(stack);
      idpDown = true;
      try {
        expect(
          (await postToken(stack, { "refresh-token": first.refresh_token as string })).status,
        ).toBe(503);
      } finally {
        idpDown = false;
      }
      const back = await postToken(stack, { "refresh-token": first.refresh_token as string });
      expect(back.status).toBe(200);
      issued.push(first, (await back.json()) as TokenJson);
    });

    it("stores no IdP refresh token, broker refresh credential or private key in clear text", async () => {
      const sessionIds = [...new Set(issued.map((t) => decodeJwt(t.access_token).sid as string))];
      const dump = await db.dump(stack, sessionIds);
      expect(dump.length).toBeGreaterThan(1000);
      expect(idpRefreshTokens.size).toBeGreaterThan(0);
      for (const token of idpRefreshTokens) expect(dump).not.toContain(token);
      for (const answer of issued) expect(dump).not.toContain(answer.refresh_token as string);
      expect(dump).not.toContain("plain:");
      expect(dump).not.toMatch(/\\"d\\":|"d":/);
      expect(dump).toMatch(/eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0\.\./); // sealed (JWE dir/A256GCM)
    });
  });
}
