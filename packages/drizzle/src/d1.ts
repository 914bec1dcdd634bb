/**
 * `@oidc-auth/drizzle/d1`: the broker store on Cloudflare D1, for workers. This entry imports
 * no Node built-ins and no database driver: only drizzle-orm's D1 driver and the SQLite store.
 */
import { drizzle } from "drizzle-orm/d1";
import { type SqliteBrokerDatabase, SqliteBrokerStore } from "./sqlite/store.js";

export type { SqliteBrokerDatabase, SqliteBrokerStoreOptions } from "./sqlite/store.js";
export { SqliteBrokerStore } from "./sqlite/store.js";

/**
 * What this entry needs of a D1 binding (Cloudflare's `D1Database`, or Miniflare's): typed
 * here so that neither @cloudflare/workers-types nor miniflare is needed to compile against it.
 */
export interface D1Binding {
  prepare(query: string): unknown;
  batch(statements: unknown[]): Promise<unknown[]>;
  exec(query: string): Promise<unknown>;
}

/**
 * The broker store on a D1 binding (`env.DB`). Pass it as `brokerStore`; the core runs
 * `setup()`, which applies the embedded migrations once (concurrent workers are safe: a
 * migration and its journal row are one batch).
 */
export function createD1BrokerStore(database: D1Binding): SqliteBrokerStore {
  return new SqliteBrokerStore(drizzle(database as never) as unknown as SqliteBrokerDatabase, {
    location: "d1",
  });
}
