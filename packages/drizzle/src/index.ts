import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { type BrokerStore, MemoryBrokerStore } from "@oidc-auth/core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { DrizzleBrokerStore } from "./store.js";
import { parseStoreUrl } from "./store-url.js";

export type { MysqlBrokerDatabase, MysqlBrokerStoreOptions } from "./mysql/store.js";
export { MysqlBrokerStore } from "./mysql/store.js";
export * as schema from "./schema.js";
export { peerJwks, sessions, signingKeys } from "./schema.js";
export type { SqliteBrokerDatabase, SqliteBrokerStoreOptions } from "./sqlite/store.js";
export { SqliteBrokerStore } from "./sqlite/store.js";
export type {
  DrizzleBrokerStoreOptions,
  PgliteBrokerDatabase,
  PostgresBrokerDatabase,
} from "./store.js";
export { DrizzleBrokerStore } from "./store.js";
export { parseStoreUrl, type StoreTarget, SUPPORTED_STORES } from "./store-url.js";

export interface CreateBrokerStoreOptions {
  /** Names the embedded default's folder: `<dataDir>/<appName>/broker`. Default "oidc-auth". */
  appName?: string;
  /** Parent folder of the embedded default. Default `OIDC_DATA_DIR`, else ".data". */
  dataDir?: string;
}

/**
 * Opens the broker store a URL names, applies the migrations (`setup()`) and returns it:
 *
 * - `memory://`: {@link MemoryBrokerStore} (one process, lost on restart)
 * - `postgresql://…`, `postgres://…`: Postgres through postgres.js (a pool of 10)
 * - `sqlite:///relative/path`, `sqlite:////absolute/path`: SQLite in that file through
 *   libSQL (needs `@libsql/client`); `sqlite://` and `sqlite:///:memory:` in memory
 * - `mysql://…`, `mariadb://…`: MySQL or MariaDB through mysql2 (needs `mysql2`; a pool of 10)
 * - `pglite://DIR`: PGlite keeping its files in DIR (relative to the working directory; created)
 * - `pglite://memory`: PGlite in memory
 * - undefined or "": the embedded default, PGlite in
 *   `${dataDir ?? OIDC_DATA_DIR ?? ".data"}/${appName ?? "oidc-auth"}/broker`
 *
 * SQLAlchemy's forms (py-oidc-auth) are accepted, the driver suffix ignored:
 * `postgresql+asyncpg://…`, `sqlite+aiosqlite:///…`, `mysql+aiomysql://…`. Anything else
 * (`mongodb://…` included) throws, naming the supported stores. `close()` of the store ends
 * the pool / closes the database.
 */
export async function createBrokerStore(
  url: string | undefined,
  opts: CreateBrokerStoreOptions = {},
): Promise<BrokerStore> {
  const target = parseStoreUrl(url);
  let store: BrokerStore;
  switch (target.kind) {
    case "embedded": {
      const appName = opts.appName ?? "oidc-auth";
      if (appName === "" || appName === "." || appName === ".." || /[/\\]/.test(appName)) {
        throw new Error("the embedded broker store needs an appName usable as a folder name");
      }
      const dataDir = opts.dataDir ?? process.env.OIDC_DATA_DIR ?? ".data";
      store = await openPglite(join(dataDir, appName, "broker"));
      break;
    }
    case "memory":
      store = new MemoryBrokerStore();
      break;
    case "pglite":
      store = await openPglite(target.dir);
      break;
    case "postgres": {
      const client = postgres(target.url, { max: 10, onnotice: () => {} });
      store = new DrizzleBrokerStore(drizzlePostgres({ client }), {
        location: withoutPassword(target.url),
      });
      break;
    }
    case "sqlite": {
      const { openLibsqlStore } = await loadDriver(
        () => import("./sqlite/open-libsql.js"),
        "@libsql/client",
        "SQLite",
      );
      store = await openLibsqlStore(target.path === undefined ? undefined : resolve(target.path));
      break;
    }
    case "mysql": {
      const { openMysqlStore } = await loadDriver(
        () => import("./mysql/open-mysql.js"),
        "mysql2",
        "MySQL/MariaDB",
      );
      store = openMysqlStore(target.url, withoutPassword(target.url));
      break;
    }
  }
  try {
    await store.setup();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}

/**
 * Imports the module of an optional driver; when the driver package is missing, says which
 * package to install (the SQLite and MySQL drivers are optional peer dependencies).
 */
async function loadDriver<T>(load: () => Promise<T>, driver: string, database: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const missing = code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND";
    if (missing && String((err as Error).message).includes(driver)) {
      throw new Error(
        `the ${database} broker store needs the package ${driver}: install it beside @oidc-auth/drizzle (npm install ${driver})`,
      );
    }
    throw err;
  }
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
