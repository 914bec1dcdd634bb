import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { SQLITE_MIGRATIONS } from "../src/sqlite/migrations.js";
import { SHIPPED_SQLITE_MIGRATIONS } from "./shipped-migrations.js";

it("the SQLite migrations embedded for workers are the ones drizzle-kit generated", () => {
  const script = fileURLToPath(new URL("../scripts/embed-sqlite-migrations.mjs", import.meta.url));
  // Exits non-zero (and the call throws) when src/sqlite/migrations.ts is out of date.
  execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" });
  expect(SQLITE_MIGRATIONS).toHaveLength(SHIPPED_SQLITE_MIGRATIONS);
});
