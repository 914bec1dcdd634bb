import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client";
import { expect, it } from "vitest";
import { createTestMysqlDatabase } from "./mariadb.js";
import { useTestDatabase } from "./postgres.js";
import {
  SHIPPED_MIGRATIONS,
  SHIPPED_MYSQL_MIGRATIONS,
  SHIPPED_SQLITE_MIGRATIONS,
} from "./shipped-migrations.js";

const child = fileURLToPath(new URL("./setup-race-child.ts", import.meta.url));
const packageDir = fileURLToPath(new URL("..", import.meta.url));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

const testDatabase = useTestDatabase();

interface Answer {
  inserted: boolean;
  kid: string;
  winner: string;
}

/**
 * Starts 4 processes that each open the store at `url` (setup() on an empty database) and
 * insert generation 1 at the same moment; checks that all succeeded and agree on one winner.
 */
async function raceSetup(url: string): Promise<Answer> {
  const processes = Array.from({ length: 4 }, () => {
    // tsx is a devDependency of the workspace root; Node resolves --import from the cwd up.
    const proc = spawn(process.execPath, ["--import", "tsx", child], {
      cwd: packageDir,
      env: { ...process.env, RACE_DATABASE_URL: url },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let onReady: () => void;
    const ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.includes("ready\n")) onReady();
    });
    proc.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const done = new Promise<Outcome>((resolve) => {
      proc.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    return { proc, ready: Promise.race([ready, done.then(() => undefined)]), done };
  });

  // Everyone has loaded; now start them together.
  await Promise.all(processes.map((p) => p.ready));
  for (const p of processes) p.proc.stdin.end("go\n");
  const outcomes = await Promise.all(processes.map((p) => p.done));

  for (const o of outcomes) expect(o.code, `a child failed:\n${o.stderr}`).toBe(0);
  const answers = outcomes.map((o) => {
    const line = o.stdout.split("\n").find((l) => l.startsWith("{"));
    return JSON.parse(line ?? "null") as Answer;
  });
  const winners = answers.filter((a) => a.inserted);
  expect(winners).toHaveLength(1);
  expect(new Set(answers.map((a) => a.winner))).toEqual(new Set([winners[0]?.kid]));
  return winners[0] as Answer;
}

it("4 processes running setup() at once on an empty Postgres database agree on one key", async () => {
  const database = testDatabase();
  const winner = await raceSetup(database.url);

  const rows = await database.sql`select kid, generation from oidc_auth_signing_keys`;
  expect(rows).toEqual([{ kid: winner.kid, generation: 1 }]);
  const applied = await database.sql`select count(*)::int as n from drizzle.__oidc_auth_migrations`;
  expect(applied[0]?.n).toBe(SHIPPED_MIGRATIONS);
}, 60_000);

it("4 processes running setup() at once on an empty SQLite file agree on one key", async () => {
  const dir = await mkdtemp(join(tmpdir(), "oidc-auth-sqlite-race-"));
  try {
    const file = join(dir, "broker.db");
    const winner = await raceSetup(`sqlite:///${file}`);
    const client = createClient({ url: `file:${file}` });
    try {
      const rows = await client.execute("select kid, generation from oidc_auth_signing_keys");
      expect(rows.rows.map((r) => ({ ...r }))).toEqual([{ kid: winner.kid, generation: 1 }]);
      const applied = await client.execute("select count(*) as n from __oidc_auth_migrations");
      expect(applied.rows[0]?.n).toBe(SHIPPED_SQLITE_MIGRATIONS);
    } finally {
      client.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);

it("4 processes running setup() at once on an empty MariaDB database agree on one key", async () => {
  const database = await createTestMysqlDatabase();
  try {
    const winner = await raceSetup(database.url);
    const rows = await database.query("select kid, generation from oidc_auth_signing_keys");
    expect(rows).toEqual([{ kid: winner.kid, generation: 1 }]);
    const applied = await database.query<{ n: number }>(
      "select count(*) as n from __oidc_auth_migrations",
    );
    expect(Number(applied[0]?.n)).toBe(SHIPPED_MYSQL_MIGRATIONS);
  } finally {
    await database.drop();
  }
}, 60_000);
