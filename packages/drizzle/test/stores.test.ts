import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { MemoryBrokerStore } from "@oidc-auth/core";
import { drizzle } from "drizzle-orm/pglite";
import { Miniflare } from "miniflare";
import { expect, it } from "vitest";
import { createD1BrokerStore } from "../src/d1.js";
import { createBrokerStore, DrizzleBrokerStore } from "../src/index.js";
import { createTestMysqlDatabase } from "./mariadb.js";
import { createTestDatabase } from "./postgres.js";
import { describeBrokerStore } from "./store-conformance.js";

describeBrokerStore("memory", async () => ({
  store: new MemoryBrokerStore(),
  cleanup: async () => {},
}));

describeBrokerStore("PGlite in a temporary folder", async () => {
  const dir = await mkdtemp(join(tmpdir(), "oidc-auth-pglite-"));
  const store = new DrizzleBrokerStore(drizzle({ client: new PGlite(dir) }));
  await store.setup();
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** A store on a fresh database of a server, opened by URL; the database is dropped after. */
async function storeOnFreshDatabase(database: { url: string; drop(): Promise<void> }) {
  try {
    const store = await createBrokerStore(database.url);
    return {
      store,
      async cleanup() {
        try {
          await store.close();
        } finally {
          await database.drop();
        }
      },
    };
  } catch (err) {
    await database.drop();
    throw err;
  }
}

describeBrokerStore("Postgres (a fresh database)", async () =>
  storeOnFreshDatabase(await createTestDatabase()),
);

describeBrokerStore("SQLite in a temporary file (libSQL)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "oidc-auth-sqlite-"));
  const store = await createBrokerStore(`sqlite:///${join(dir, "broker.db")}`);
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeBrokerStore("MariaDB (a fresh database)", async () =>
  storeOnFreshDatabase(await createTestMysqlDatabase()),
);

it("MariaDB refuses a single-use id longer than its 255 characters rather than cut it", async () => {
  const { store, cleanup } = await storeOnFreshDatabase(await createTestMysqlDatabase());
  try {
    const long = "j".repeat(256);
    await expect(store.useOnce(long, 1_000_060, 1_000_000)).rejects.toThrow(RangeError);
    // Nothing was recorded under the first 255 characters.
    expect(await store.useOnce(long.slice(0, 255), 1_000_060, 1_000_000)).toBe(true);
  } finally {
    await cleanup();
  }
});

// D1 through miniflare's D1 API from Node: the database is workerd's own D1 (SQLite inside
// workerd, with D1's batch and without interactive transactions), the store's code runs here
// under vitest like every other store. The same store in a worker is proven end to end in
// examples/hono/test/workerd-d1.test.ts.
describeBrokerStore("Cloudflare D1 (miniflare, local)", async () => {
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    compatibilityDate: "2026-04-01",
    d1Databases: { DB: crypto.randomUUID() },
    d1Persist: false,
  });
  try {
    const store = createD1BrokerStore(await mf.getD1Database("DB"));
    await store.setup();
    return {
      store,
      async cleanup() {
        await store.close();
        await mf.dispose();
      },
    };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
});
