import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { type BrokerStore, MemoryBrokerStore } from "@oidc-auth/core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { DrizzleBrokerStore } from "./store.js";

export * as schema from "./schema.js";
export { peerJwks, sessions, signingKeys } from "./schema.js";
export type {
  DrizzleBrokerStoreOptions,
  PgliteBrokerDatabase,
  PostgresBrokerDatabase,
} from "./store.js";
export { DrizzleBrokerStore } from "./store.js";

export interface CreateBrokerStoreOptions {
  /** Names the embedded default's folder: `<dataDir>/<appName>/broker`. Default "oidc-auth". */
  appName?: string;
  /** Parent folder of the embedded default. Default `OIDC_DATA_DIR`, else ".data". */
  dataDir?: string;
}

const accepted =
  'memory://, pglite://DIR, pglite://memory, postgres://… or postgresql://… (empty: embedded PGlite under "<dataDir>/<appName>/broker")';

/**
 * Opens the broker store a URL names, applies the migrations (`setup()`) and returns it:
 *
 * - `memory://`: {@link MemoryBrokerStore} (one process, lost on restart)
 * - `postgres://…`, `postgresql://…`: Postgres through postgres.js (a pool of 10)
 * - `pglite://DIR`: PGlite keeping its files in DIR (relative to the working directory; created)
 * - `pglite://memory`: PGlite in memory
 * - undefined or "": the embedded default, PGlite in
 *   `${dataDir ?? OIDC_DATA_DIR ?? ".data"}/${appName ?? "oidc-auth"}/broker`
 *
 * Anything else throws. `close()` of the store ends the pool / closes PGlite.
 */
export async function createBrokerStore(
  url: string | undefined,
  opts: CreateBrokerStoreOptions = {},
): Promise<BrokerStore> {
  let store: BrokerStore;
  if (url === undefined || url === "") {
    const appName = opts.appName ?? "oidc-auth";
    if (appName === "" || appName === "." || appName === ".." || /[/\\]/.test(appName)) {
      throw new Error("the embedded broker store needs an appName usable as a folder name");
    }
    const dataDir = opts.dataDir ?? process.env.OIDC_DATA_DIR ?? ".data";
    store = await openPglite(join(dataDir, appName, "broker"));
  } else if (url === "memory://") {
    store = new MemoryBrokerStore();
  } else if (url.startsWith("pglite://")) {
    const dir = url.slice("pglite://".length);
    if (dir === "") throw new Error("pglite:// needs a folder (pglite://DIR) or pglite://memory");
    store = await openPglite(dir === "memory" ? undefined : dir);
  } else if (/^postgres(ql)?:\/\//i.test(url)) {
    const client = postgres(url, { max: 10, onnotice: () => {} });
    store = new DrizzleBrokerStore(drizzlePostgres({ client }), { location: withoutPassword(url) });
  } else {
    throw new Error(`unsupported broker store URL${schemeOf(url)}: use ${accepted}`);
  }
  try {
    await store.setup();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

/** PGlite in `dir` (created), or in memory. */
async function openPglite(dir: string | undefined): Promise<BrokerStore> {
  let client: PGlite;
  if (dir === undefined) {
    client = new PGlite();
  } else {
    const path = resolve(dir);
    await mkdir(path, { recursive: true });
    client = new PGlite(path);
  }
  await client.waitReady;
  const location = dir === undefined ? "pglite://memory" : resolve(dir);
  return new DrizzleBrokerStore(drizzlePglite({ client }), { location });
}

/** A database URL for messages: scheme, user, host, port and database, never the password. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.href;
  } catch {
    return `a database URL${schemeOf(url)}`;
  }
}

/** ` (scheme "x:")` for an error message: never the rest of the URL, which may hold a password. */
function schemeOf(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  return scheme ? ` (scheme "${scheme.toLowerCase()}:")` : " (not a URL)";
}
