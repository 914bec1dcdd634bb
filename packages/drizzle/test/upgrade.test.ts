/**
 * A database an earlier release migrated upgrades in `setup()`: the migrations shipped since
 * apply on top, and what was stored before keeps working. Each dialect starts from the
 * migrations shipped before back-channel logout (Postgres 0000..0002, SQLite and MySQL 0000),
 * applied the way that release's `setup()` applied them, plus a session of that time.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client";
import type { BrokerStore, SessionRecord } from "@oidc-auth/core";
import { drizzle as drizzleMysql } from "drizzle-orm/mysql2";
import { migrate as migrateMysql } from "drizzle-orm/mysql2/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import { createPool } from "mysql2/promise";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createBrokerStore } from "../src/index.js";
import { SQLITE_MIGRATIONS } from "../src/sqlite/migrations.js";
import { createTestMysqlDatabase } from "./mariadb.js";
import { createTestDatabase } from "./postgres.js";
import {
  SHIPPED_MIGRATIONS,
  SHIPPED_MYSQL_MIGRATIONS,
  SHIPPED_SQLITE_MIGRATIONS,
} from "./shipped-migrations.js";

/** How many migrations of each folder the release before back-channel logout shipped. */
const BEFORE_BACKCHANNEL_LOGOUT = {
  migrations: 3,
  "migrations-sqlite": 1,
  "migrations-mysql": 1,
} as const;

const packageDir = fileURLToPath(new URL("..", import.meta.url));
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "oidc-auth-upgrade-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A copy of a migrations folder holding only its first `count` migrations (journal included). */
async function earlierMigrations(folder: keyof typeof BEFORE_BACKCHANNEL_LOGOUT): Promise<string> {
  const count = BEFORE_BACKCHANNEL_LOGOUT[folder];
  const source = join(packageDir, folder);
  const target = join(tmp, `${folder}-${crypto.randomUUID()}`);
  await mkdir(join(target, "meta"), { recursive: true });
  const journal = JSON.parse(await readFile(join(source, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  journal.entries = journal.entries.slice(0, count);
  expect(journal.entries).toHaveLength(count);
  for (const { tag } of journal.entries)
    await cp(join(source, `${tag}.sql`), join(target, `${tag}.sql`));
  await writeFile(join(target, "meta", "_journal.json"), JSON.stringify(journal));
  return target;
}

/** A session as the earlier release stored it (no IdP session id), and how it reads now. */
function earlierSession(): { insert: (emptyList: string) => string; record: SessionRecord } {
  const record: SessionRecord = {
    id: crypto.randomUUID(),
    subject: "https://idp.example.com|alice",
    refreshHash: "a".repeat(64),
    previousHash: null,
    retiredHashes: [],
    rotatedAt: null,
    rotationAnswer: null,
    rotationLease: null,
    rotationLeaseUntil: null,
    idpRefreshToken: null,
    idpAccessToken: null,
    idpAccessExpiresAt: null,
    idpSessionId: null,
    claims: '{"sub":"alice"}',
    scope: "openid",
    createdAt: 1_700_000_000,
    expiresAt: 4_000_000_000,
  };
  // Test constants only, inlined: the three dialects share this statement.
  const insert = (emptyList: string) =>
    `insert into oidc_auth_sessions (id, subject, refresh_hash, retired_hashes, claims, scope, created_at, expires_at) values ('${record.id}', '${record.subject}', '${record.refreshHash}', ${emptyList}, '${record.claims}', '${record.scope}', ${record.createdAt}, ${record.expiresAt})`;
  return { insert, record };
}

/** The upgraded store keeps the earlier session and does what back-channel logout needs. */
async function expectUpgraded(store: BrokerStore, earlier: SessionRecord): Promise<void> {
  expect(await store.getSession(earlier.id)).toEqual(earlier);
  expect(await store.findSessionByRefreshHash(earlier.refreshHash)).toEqual(earlier);
  const sid = `sid-${crypto.randomUUID()}`;
  const fresh = {
    ...earlier,
    id: crypto.randomUUID(),
    refreshHash: "b".repeat(64),
    idpSessionId: sid,
  };
  await store.createSession(fresh);
  expect(await store.getSession(fresh.id)).toEqual(fresh);
  expect(await store.deleteSessionsOfIdpSession(sid)).toBe(1);
  expect(await store.getSession(earlier.id)).toEqual(earlier);
  expect(await store.useOnce("jti-1", 1_000_060, 1_000_000)).toBe(true);
  expect(await store.useOnce("jti-1", 1_000_060, 1_000_000)).toBe(false);
  // setup() again finds nothing left to do.
  await store.setup();
  expect(await store.getSession(earlier.id)).toEqual(earlier);
}

it("a Postgres database of the earlier migrations (0000..0002) upgrades in setup()", async () => {
  const database = await createTestDatabase();
  try {
    const client = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      await migratePostgres(drizzlePostgres({ client }), {
        migrationsFolder: await earlierMigrations("migrations"),
        migrationsSchema: "drizzle",
        migrationsTable: "__oidc_auth_migrations",
      });
    } finally {
      await client.end({ timeout: 5 });
    }
    const { insert, record } = earlierSession();
    await database.sql.unsafe(insert("'{}'"));
    const before =
      await database.sql`select count(*)::int as n from drizzle.__oidc_auth_migrations`;
    expect(before[0]?.n).toBe(BEFORE_BACKCHANNEL_LOGOUT.migrations);

    const store = await createBrokerStore(database.url);
    try {
      await expectUpgraded(store, record);
    } finally {
      await store.close();
    }
    const applied =
      await database.sql`select count(*)::int as n from drizzle.__oidc_auth_migrations`;
    expect(applied[0]?.n).toBe(SHIPPED_MIGRATIONS);
    expect(SHIPPED_MIGRATIONS).toBeGreaterThan(BEFORE_BACKCHANNEL_LOGOUT.migrations);
  } finally {
    await database.drop();
  }
});

it("a SQLite file of the earlier migrations (0000) upgrades in setup()", async () => {
  const file = join(tmp, `${crypto.randomUUID()}.db`);
  const client = createClient({ url: `file:${file}` });
  const { insert, record } = earlierSession();
  try {
    // What the earlier setup() did: its journal table, then each migration with its row.
    await client.execute(
      'create table "__oidc_auth_migrations" ("tag" text primary key not null, "applied_at" integer not null)',
    );
    const earlier = SQLITE_MIGRATIONS.slice(0, BEFORE_BACKCHANNEL_LOGOUT["migrations-sqlite"]);
    for (const migration of earlier) {
      await client.batch([
        ...migration.statements,
        { sql: "insert into __oidc_auth_migrations values (?, ?)", args: [migration.tag, 1] },
      ]);
    }
    await client.execute(insert("'[]'"));
    const before = await client.execute("select count(*) as n from __oidc_auth_migrations");
    expect(before.rows[0]?.n).toBe(BEFORE_BACKCHANNEL_LOGOUT["migrations-sqlite"]);
  } finally {
    client.close();
  }

  const store = await createBrokerStore(`sqlite:///${file}`);
  try {
    await expectUpgraded(store, record);
  } finally {
    await store.close();
  }
  const after = createClient({ url: `file:${file}` });
  try {
    const applied = await after.execute("select count(*) as n from __oidc_auth_migrations");
    expect(applied.rows[0]?.n).toBe(SHIPPED_SQLITE_MIGRATIONS);
    expect(SHIPPED_SQLITE_MIGRATIONS).toBeGreaterThan(
      BEFORE_BACKCHANNEL_LOGOUT["migrations-sqlite"],
    );
  } finally {
    after.close();
  }
});

it("a MariaDB database of the earlier migrations (0000) upgrades in setup()", async () => {
  const database = await createTestMysqlDatabase();
  try {
    const pool = createPool({ uri: database.url, connectionLimit: 1 });
    try {
      await migrateMysql(drizzleMysql(pool, { mode: "default" }), {
        migrationsFolder: await earlierMigrations("migrations-mysql"),
        migrationsTable: "__oidc_auth_migrations",
      });
    } finally {
      await pool.end();
    }
    const { insert, record } = earlierSession();
    await database.query(insert("'[]'"));
    const before = await database.query<{ n: number }>(
      "select count(*) as n from __oidc_auth_migrations",
    );
    expect(Number(before[0]?.n)).toBe(BEFORE_BACKCHANNEL_LOGOUT["migrations-mysql"]);

    const store = await createBrokerStore(database.url);
    try {
      await expectUpgraded(store, record);
    } finally {
      await store.close();
    }
    const applied = await database.query<{ n: number }>(
      "select count(*) as n from __oidc_auth_migrations",
    );
    expect(Number(applied[0]?.n)).toBe(SHIPPED_MYSQL_MIGRATIONS);
    expect(SHIPPED_MYSQL_MIGRATIONS).toBeGreaterThan(BEFORE_BACKCHANNEL_LOGOUT["migrations-mysql"]);
  } finally {
    await database.drop();
  }
});
