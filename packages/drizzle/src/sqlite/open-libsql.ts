import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { type SqliteBrokerDatabase, SqliteBrokerStore } from "./store.js";

/**
 * The SQLite store on a local file (or in memory) through libSQL. Loaded at run time by
 * createBrokerStore, so that apps on Postgres need not install @libsql/client.
 */
export async function openLibsqlStore(path: string | undefined): Promise<SqliteBrokerStore> {
  if (path !== undefined) await mkdir(dirname(path), { recursive: true });
  // timeout: how long a writer waits for another process's write lock (SQLite's busy timeout)
  // before failing: several instances may share the file.
  const client = createClient({
    url: path === undefined ? ":memory:" : `file:${path}`,
    timeout: 10_000,
  });
  try {
    if (path !== undefined) {
      // WAL: readers do not wait for the writer; synchronous=NORMAL is safe in WAL mode.
      await client.execute("pragma journal_mode = wal");
      await client.execute("pragma synchronous = normal");
    }
  } catch (err) {
    client.close();
    throw err;
  }
  return new SqliteBrokerStore(drizzle({ client }) as unknown as SqliteBrokerDatabase, {
    close: () => client.close(),
    location: path ?? "sqlite://:memory:",
  });
}
