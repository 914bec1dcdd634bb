import { readFileSync } from "node:fs";

const journalLength = (folder: string): number =>
  (
    JSON.parse(
      readFileSync(new URL(`../${folder}/meta/_journal.json`, import.meta.url), "utf8"),
    ) as { entries: unknown[] }
  ).entries.length;

/** How many migrations the package ships (drizzle-kit's journal): what setup() applies, once. */
export const SHIPPED_MIGRATIONS: number = journalLength("migrations");
/** The same for SQLite (local file and D1). */
export const SHIPPED_SQLITE_MIGRATIONS: number = journalLength("migrations-sqlite");
/** The same for MySQL / MariaDB. */
export const SHIPPED_MYSQL_MIGRATIONS: number = journalLength("migrations-mysql");
