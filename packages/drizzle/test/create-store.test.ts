import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { type BrokerStore, MemoryBrokerStore, type SigningKeyRecord } from "@oidc-auth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createBrokerStore,
  DrizzleBrokerStore,
  MysqlBrokerStore,
  SqliteBrokerStore,
} from "../src/index.js";
import { createTestMysqlDatabase } from "./mariadb.js";
import { useTestDatabase } from "./postgres.js";
import { SHIPPED_MIGRATIONS } from "./shipped-migrations.js";

const key = (generation: number): SigningKeyRecord => ({
  kid: `kid-${crypto.randomUUID()}`,
  generation,
  alg: "RS256",
  publicJwk: { kty: "RSA", n: "AQAB", e: "AQAB" },
  privateKey: "sealed",
  createdAt: 1_700_000_000,
  retiredAt: null,
});
const jwks = {
  keys: [
    { kty: "OKP", crv: "Ed25519", kid: "peer", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
  ],
};

/** Proves the store works: a key goes in and comes out. */
async function roundTrip(store: BrokerStore): Promise<void> {
  const k = key(1);
  expect(await store.insertSigningKey(k)).toBe(true);
  expect(await store.listSigningKeys()).toEqual([k]);
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "oidc-auth-create-store-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("createBrokerStore", () => {
  it("memory:// opens a MemoryBrokerStore", async () => {
    const store = await createBrokerStore("memory://");
    expect(store).toBeInstanceOf(MemoryBrokerStore);
    await roundTrip(store);
    await store.close();
  });

  it("pglite://memory opens PGlite in memory", async () => {
    const store = await createBrokerStore("pglite://memory");
    expect(store).toBeInstanceOf(DrizzleBrokerStore);
    await roundTrip(store);
    await store.close();
  });

  it("pglite://DIR keeps the data in DIR (relative to the working directory, created), across reopening", async () => {
    const dir = join(tmp, "nested", "pglite");
    const relativeDir = relative(process.cwd(), dir);
    expect(relativeDir.startsWith("/")).toBe(false);
    const store = await createBrokerStore(`pglite://${relativeDir}`);
    expect(store).toBeInstanceOf(DrizzleBrokerStore);
    await roundTrip(store);
    await store.putPeerJwks({ issuer: "https://peer.example.com", jwks, fetchedAt: 1 });
    await store.close();
    expect(existsSync(join(dir, "PG_VERSION"))).toBe(true);

    // Behind the store's back: JSON is stored as jsonb objects, and the migrations journal is ours.
    const raw = new PGlite(dir);
    const types = await raw.query<{ t: string }>(
      "select jsonb_typeof(jwks) as t from oidc_auth_peer_jwks",
    );
    expect(types.rows).toEqual([{ t: "object" }]);
    const applied = await raw.query<{ n: number }>(
      "select count(*)::int as n from drizzle.__oidc_auth_migrations",
    );
    expect(applied.rows).toEqual([{ n: SHIPPED_MIGRATIONS }]);
    await raw.close();

    const again = await createBrokerStore(`pglite://${dir}`); // absolute works too; setup() again is a no-op
    expect(await again.listSigningKeys()).toHaveLength(1);
    expect(await again.getPeerJwks("https://peer.example.com")).toEqual({
      issuer: "https://peer.example.com",
      jwks,
      fetchedAt: 1,
    });
    await again.close();
  });

  it("no URL: the embedded PGlite in <dataDir>/oidc-auth/broker", async () => {
    const dataDir = join(tmp, "data");
    const store = await createBrokerStore(undefined, { dataDir });
    expect(store).toBeInstanceOf(DrizzleBrokerStore);
    // named in messages such as ready()'s "sealed with another secret"
    expect(store.location).toBe(join(dataDir, "oidc-auth", "broker"));
    await roundTrip(store);
    await store.close();
    expect(existsSync(join(dataDir, "oidc-auth", "broker", "PG_VERSION"))).toBe(true);
  });

  it('"": the embedded PGlite in $OIDC_DATA_DIR/<appName>/broker', async () => {
    const dataDir = join(tmp, "env-data");
    const before = process.env.OIDC_DATA_DIR;
    process.env.OIDC_DATA_DIR = dataDir;
    try {
      const store = await createBrokerStore("", { appName: "my-app" });
      await store.close();
    } finally {
      if (before === undefined) delete process.env.OIDC_DATA_DIR;
      else process.env.OIDC_DATA_DIR = before;
    }
    expect(existsSync(join(dataDir, "my-app", "broker", "PG_VERSION"))).toBe(true);
  });

  it("refuses an appName that is not a folder name", async () => {
    await expect(createBrokerStore(undefined, { appName: "../x", dataDir: tmp })).rejects.toThrow(
      /appName/,
    );
  });

  describe("Postgres", () => {
    const testDatabase = useTestDatabase();

    it("postgres:// and postgresql:// open the same database through postgres.js", async () => {
      const database = testDatabase();
      const store = await createBrokerStore(database.url);
      expect(store).toBeInstanceOf(DrizzleBrokerStore);
      await roundTrip(store);
      await store.putPeerJwks({ issuer: "https://peer.example.com", jwks, fetchedAt: 1 });
      await store.close();

      const other = await createBrokerStore(database.url.replace(/^postgres:/, "postgresql:"));
      expect(await other.listSigningKeys()).toHaveLength(1);
      expect(await other.getPeerJwks("https://peer.example.com")).toEqual({
        issuer: "https://peer.example.com",
        jwks,
        fetchedAt: 1,
      });
      await other.close();

      const types = await database.sql`select jsonb_typeof(jwks) as t from oidc_auth_peer_jwks`;
      expect([...types]).toEqual([{ t: "object" }]);
      const applied =
        await database.sql`select count(*)::int as n from drizzle.__oidc_auth_migrations`;
      expect([...applied]).toEqual([{ n: SHIPPED_MIGRATIONS }]);
    });

    it("names its location without the password", async () => {
      const database = testDatabase();
      const url = new URL(database.url);
      url.password = "hunter2"; // the server trusts local connections: ignored
      const store = await createBrokerStore(url.href);
      url.password = "";
      expect(store.location).toBe(url.href);
      expect(store.location).not.toContain("hunter2");
      await store.close();
    });

    it("an unreachable server fails without echoing the password", async () => {
      const error = await createBrokerStore("postgres://user:hunter2@127.0.0.1:1/db").catch(
        (e: Error) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).not.toContain("hunter2");
      expect(String((error as Error).stack)).not.toContain("hunter2");
    });
  });

  describe("bad URLs", () => {
    it("an unknown scheme names the accepted ones and never the password", async () => {
      const error = await createBrokerStore("redis://user:hunter2@host/db").catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      for (const scheme of [
        "memory://",
        "pglite://",
        "postgres://",
        "postgresql://",
        "sqlite:///",
        "mysql://",
        "mariadb://",
      ])
        expect(message).toContain(scheme);
      expect(message).toContain("redis");
      expect(message).not.toContain("hunter2");
      expect(message).not.toContain("user");
    });

    it("mongodb:// (py-oidc-auth's MongoDB store) fails at startup naming the supported stores, never the password", async () => {
      for (const url of ["mongodb://user:hunter2@db/oidc", "mongodb+srv://user:hunter2@db/oidc"]) {
        const error = await createBrokerStore(url).catch((e: Error) => e);
        expect(error).toBeInstanceOf(Error);
        const message = (error as Error).message;
        expect(message).toMatch(/MongoDB is not supported/);
        for (const scheme of ["memory://", "sqlite:///", "postgresql://", "mysql://"])
          expect(message).toContain(scheme);
        expect(message).not.toContain("hunter2");
      }
    });

    it("a sqlite URL with a host or a query is refused with the right form", async () => {
      await expect(createBrokerStore("sqlite://host/x.db")).rejects.toThrow(/three slashes/);
      await expect(createBrokerStore("sqlite:///x.db?mode=ro")).rejects.toThrow(/query/);
    });

    it("text that is not a URL is not echoed", async () => {
      await expect(createBrokerStore("hunter2")).rejects.toThrow(/^(?!.*hunter2).*memory:\/\//);
    });

    it("pglite:// needs a folder", async () => {
      await expect(createBrokerStore("pglite://")).rejects.toThrow(/pglite:\/\/memory/);
    });
  });
});

describe("createBrokerStore: SQLite and MySQL URLs", () => {
  it("sqlite+aiosqlite:///relative/path keeps the data in that file, across reopening", async () => {
    const file = join(tmp, "sqlite", "broker.db");
    const relativeFile = relative(process.cwd(), file);
    const store = await createBrokerStore(`sqlite+aiosqlite:///${relativeFile}`);
    expect(store).toBeInstanceOf(SqliteBrokerStore);
    expect(store.location).toBe(file);
    await roundTrip(store);
    await store.close();
    expect(existsSync(file)).toBe(true);
    const again = await createBrokerStore(`sqlite:///${file}`); // four slashes: absolute
    expect(await again.listSigningKeys()).toHaveLength(1);
    await again.close();
  });

  it("sqlite:// is a fresh database in memory", async () => {
    const store = await createBrokerStore("sqlite://");
    await roundTrip(store);
    await store.close();
  });

  it("mysql+aiomysql:// and mariadb:// open the same MariaDB database, its text compared byte for byte", async () => {
    const database = await createTestMysqlDatabase();
    try {
      const store = await createBrokerStore(database.url.replace(/^mysql:/, "mysql+aiomysql:"));
      expect(store).toBeInstanceOf(MysqlBrokerStore);
      await roundTrip(store);
      await store.close();
      const other = await createBrokerStore(database.url.replace(/^mysql:/, "mariadb:"));
      expect(await other.listSigningKeys()).toHaveLength(1);
      await other.close();
      // Text compares byte for byte: the server's default collation ignores case.
      const collations = await database.query<{ c: string }>(
        "select distinct collation_name as c from information_schema.columns where table_schema = database() and table_name like 'oidc\\_auth\\_%' and collation_name is not null",
      );
      expect(collations).toEqual([{ c: "utf8mb4_bin" }]);
    } finally {
      await database.drop();
    }
  });

  it("an unreachable MySQL server fails without echoing the password", async () => {
    const error = await createBrokerStore("mysql://user:hunter2@127.0.0.1:1/db").catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).not.toContain("hunter2");
    expect(String((error as Error).stack)).not.toContain("hunter2");
  });
});
