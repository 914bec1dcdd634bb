import postgres from "postgres";
/** The Postgres server the tests use (a superuser connection; trust auth on this machine). */
export declare const DATABASE_URL: string;
/** A URL for messages: the password replaced. */
export declare function redact(url: string): string;
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
export declare function createTestDatabase(): Promise<TestDatabase>;
/**
 * Registers hooks that create a fresh database before the tests of the current block and
 * drop it after them; the getter answers it. When the server cannot be reached, every test
 * that asks for the database fails with the reason (none is reported as skipped).
 */
export declare function useTestDatabase(): () => TestDatabase;
