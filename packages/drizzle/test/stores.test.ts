import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { MemoryBrokerStore } from "@oidc-auth/core";
import { drizzle } from "drizzle-orm/pglite";
import { createBrokerStore, DrizzleBrokerStore } from "../src/index.js";
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

describeBrokerStore("Postgres (a fresh database)", async () => {
  const database = await createTestDatabase();
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
});
