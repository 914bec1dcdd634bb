import { describe, expect, it } from "vitest";
import { parseStoreUrl } from "../src/store-url.js";

describe("parseStoreUrl: py-oidc-auth's SQLAlchemy URLs, driver suffix ignored", () => {
  it("reads Postgres URLs with or without a driver", () => {
    expect(parseStoreUrl("postgresql+asyncpg://u:p@db:5432/app")).toEqual({
      kind: "postgres",
      url: "postgresql://u:p@db:5432/app",
    });
    expect(parseStoreUrl("postgresql+psycopg://db/app")).toEqual({
      kind: "postgres",
      url: "postgresql://db/app",
    });
    expect(parseStoreUrl("postgres://db/app")).toEqual({
      kind: "postgres",
      url: "postgres://db/app",
    });
  });

  it("reads SQLite paths as SQLAlchemy does: three slashes relative, four absolute", () => {
    expect(parseStoreUrl("sqlite+aiosqlite:///data/broker.db")).toEqual({
      kind: "sqlite",
      path: "data/broker.db",
    });
    expect(parseStoreUrl("sqlite:////var/lib/app/broker.db")).toEqual({
      kind: "sqlite",
      path: "/var/lib/app/broker.db",
    });
    expect(parseStoreUrl("sqlite:///my%20folder/b.db")).toEqual({
      kind: "sqlite",
      path: "my folder/b.db",
    });
  });

  it("sqlite://, sqlite:/// and sqlite:///:memory: are in memory", () => {
    for (const url of ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite+aiosqlite://"])
      expect(parseStoreUrl(url)).toEqual({ kind: "sqlite", path: undefined });
  });

  it("reads MySQL and MariaDB URLs with or without a driver", () => {
    for (const url of [
      "mysql+aiomysql://root@db/app",
      "mysql://root@db/app",
      "mariadb://root@db/app",
      "mariadb+mariadbconnector://root@db/app",
    ])
      expect(parseStoreUrl(url)).toEqual({ kind: "mysql", url: "mysql://root@db/app" });
  });

  it("memory://, pglite:// and no URL keep their meaning", () => {
    expect(parseStoreUrl("memory://")).toEqual({ kind: "memory" });
    expect(parseStoreUrl("pglite://memory")).toEqual({ kind: "pglite", dir: undefined });
    expect(parseStoreUrl("pglite://.data/x")).toEqual({ kind: "pglite", dir: ".data/x" });
    expect(parseStoreUrl(undefined)).toEqual({ kind: "embedded" });
    expect(parseStoreUrl("")).toEqual({ kind: "embedded" });
  });

  it("refuses memory:// with anything after the scheme", () => {
    expect(() => parseStoreUrl("memory://x")).toThrow(/memory:\/\//);
  });
});
