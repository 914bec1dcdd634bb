import postgres from "postgres";
import { afterAll, beforeAll } from "vitest";

/** The Postgres server the tests use (a superuser connection; trust auth on this machine). */
export const DATABASE_URL =
  process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A URL for messages: the password replaced. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.href;
  } catch {
    return "(not a URL)";
  }
}

export interface TestDatabase {
  /** URL of the fresh, empty database. */
  url: string;
  /** A connection to the database (for checks behind the store's back). */
  sql: postgres.Sql;
  /** Drops the database (WITH (FORCE)) and closes the connections. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh empty database `oidc_auth_test_<random>` on the server at DATABASE_URL.
 * Fails (never skips) with a clear message when the server cannot be reached.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  const name = `oidc_auth_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  try {
    await admin`create database ${admin(name)}`;
  } catch (err) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw new Error(
      `the Postgres server at ${redact(DATABASE_URL)} is unreachable or refused CREATE DATABASE (set DATABASE_URL to a superuser URL): ${(err as Error).message}`,
    );
  }
  const u = new URL(DATABASE_URL);
  u.pathname = `/${name}`;
  const url = u.href;
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      try {
        await admin`drop database if exists ${admin(name)} with (force)`;
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

/**
 * Registers hooks that create a fresh database before the tests of the current block and
 * drop it after them; the getter answers it. When the server cannot be reached, every test
 * that asks for the database fails with the reason (none is reported as skipped).
 */
export function useTestDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      database = await createTestDatabase();
    } catch (err) {
      failure = err;
    }
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (database) return database;
    throw failure instanceof Error ? failure : new Error(String(failure));
  };
}
