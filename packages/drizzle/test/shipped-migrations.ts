import { readFileSync } from "node:fs";

/** How many migrations the package ships (drizzle-kit's journal): what setup() applies, once. */
export const SHIPPED_MIGRATIONS: number = (
  JSON.parse(
    readFileSync(new URL("../migrations/meta/_journal.json", import.meta.url), "utf8"),
  ) as { entries: unknown[] }
).entries.length;
