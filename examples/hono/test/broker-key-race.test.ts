import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { TestDatabase } from "../../../packages/drizzle/test/postgres.js";
import { createTestDatabase } from "../../../packages/drizzle/test/postgres.js";

const instance = fileURLToPath(new URL("./fixtures/broker-instance.ts", import.meta.url));
const exampleDir = fileURLToPath(new URL("..", import.meta.url));

let idp: DevIdp;
let database: TestDatabase;
beforeAll(async () => {
  idp = await startDevIdp();
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
  await idp?.stop();
});

it("4 instances starting at once on an empty Postgres database all publish the same kid", async () => {
  const children = Array.from({ length: 4 }, () => {
    const child = spawn(process.execPath, ["--import", "tsx", instance], {
      cwd: exampleDir,
      env: { ...process.env, BROKER_STORE_URL: database.url, IDP_DISCOVERY_URL: idp.discoveryUrl },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const ready = new Promise<void>((resolve) => {
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        if (stdout.includes("ready\n")) resolve();
      });
    });
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on("close", (code) => resolve({ code, stdout, stderr })),
    );
    return { child, ready: Promise.race([ready, done]), done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.end("go\n");
  const outcomes = await Promise.all(children.map((c) => c.done));
  const published = outcomes.map((o) => {
    expect(o.code, o.stderr).toBe(0);
    const line = o.stdout.split("\n").find((l) => l.startsWith("{"));
    return JSON.parse(line ?? "null") as { status: number; kids: string[] };
  });
  for (const p of published) expect(p.status).toBe(200);
  expect(new Set(published.map((p) => JSON.stringify(p.kids))).size).toBe(1);
  expect(published[0]?.kids).toHaveLength(1);
  const rows = await database.sql`select kid, generation from oidc_auth_signing_keys`;
  expect(rows).toEqual([{ kid: published[0]?.kids[0], generation: 1 }]);
}, 90_000);
