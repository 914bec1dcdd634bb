import { createConnection } from "mysql2/promise";

/** The MariaDB / MySQL server the tests use (root, no password, on this machine and in CI). */
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

export interface TestMysqlDatabase {
  /** URL of the fresh, empty database. */
  url: string;
  /** Runs a query on the database (for checks behind the store's back). */
  query<T>(sql: string): Promise<T[]>;
  /** Drops the database and closes the connection. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh empty database `oidc_auth_test_<random>` on the server at MYSQL_URL. Fails
 * (never skips) with a clear message when the server cannot be reached.
 */
export async function createTestMysqlDatabase(): Promise<TestMysqlDatabase> {
  const name = `oidc_auth_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  let admin: Awaited<ReturnType<typeof createConnection>>;
  try {
    admin = await createConnection({ uri: MYSQL_URL, connectTimeout: 10_000 });
    await admin.query(`create database \`${name}\``);
  } catch (err) {
    throw new Error(
      `the MariaDB/MySQL server at ${MYSQL_URL.replace(/:[^:@/]*@/, ":***@")} is unreachable or refused CREATE DATABASE (set MYSQL_URL): ${(err as Error).message}`,
    );
  }
  const u = new URL(MYSQL_URL);
  u.pathname = `/${name}`;
  return {
    url: u.href,
    async query<T>(sql: string) {
      const [rows] = await admin.query(`use \`${name}\``).then(() => admin.query(sql));
      return rows as T[];
    },
    async drop() {
      try {
        await admin.query(`drop database if exists \`${name}\``);
      } finally {
        await admin.end();
      }
    },
  };
}
