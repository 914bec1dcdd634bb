import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** A running `next start` of the example. */
export interface RunningExample {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** What the server printed so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Stops the server (its whole process group) and waits for it to exit. */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
const appDir = fileURLToPath(new URL("..", import.meta.url));
const workspaceDir = join(appDir, "..", "..");
const nextBin = createRequire(join(appDir, "package.json")).resolve("next/dist/bin/next");

/** What the build depends on: the app and the workspace packages it bundles. */
const SOURCES = [
  join(appDir, "src"),
  join(appDir, "next.config.ts"),
  join(appDir, "package.json"),
  join(appDir, "tsconfig.json"),
  join(workspaceDir, "packages", "core", "dist"),
  join(workspaceDir, "packages", "next", "dist"),
  join(workspaceDir, "packages", "drizzle", "dist"),
];

async function newestMtime(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestMtime(join(path, entry)));
  }
  return newest;
}

async function isBuildFresh(): Promise<boolean> {
  let built: number;
  try {
    built = (await stat(join(appDir, ".next", "BUILD_ID"))).mtimeMs;
  } catch {
    return false;
  }
  const sources = await Promise.all(SOURCES.map((s) => newestMtime(s).catch(() => 0)));
  return Math.max(...sources) < built;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, ...args], { cwd: appDir, env });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`next ${args[0]} failed (${code}):\n${output}`)),
    );
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A lock file shared by every process of a test run; a dead holder's lock is taken over. */
async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = join(appDir, ".next-build.lock");
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(await readFile(lock, "utf8").catch(() => ""));
      if (holder > 0 && !isAlive(holder)) await rm(lock, { force: true });
      if (Date.now() > deadline) throw new Error("timed out waiting for another next build");
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

let building: Promise<void> | undefined;

/**
 * Runs `next build` unless `.next/BUILD_ID` is newer than every source: once per test run,
 * however many test files or processes ask (a promise per process, a lock directory across
 * processes).
 */
export function ensureBuilt(): Promise<void> {
  building ??= withBuildLock(async () => {
    if (await isBuildFresh()) return;
    await run(["build"], {
      ...withoutOidcVariables(process.env),
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
    });
  }).catch((err) => {
    building = undefined;
    throw err;
  });
  return building;
}

/** The test process's own OIDC_* variables never leak into the example. */
function withoutOidcVariables(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("OIDC_")));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Servers still running: a test process that exits without close() takes them along. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts the example with `next start` on 127.0.0.1 and a free port, configured by `env`
 * (the `OIDC_*` variables are read when the server starts). Unless `env` sets them,
 * `OIDC_PROXY` is the server's URL and `OIDC_REDIRECT_URIS` its `/callback` page, as the
 * Hono example's test stack does. Builds the app first if the build is missing or stale.
 * Resolves once the server answers HTTP.
 */
export async function startExample(env: Record<string, string>): Promise<RunningExample> {
  await ensureBuilt();
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  const child = spawn(process.execPath, [nextBin, "start", "-H", HOST, "-p", String(port)], {
    cwd: appDir,
    detached: true, // its own process group: close() ends next and anything it started
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...withoutOidcVariables(process.env),
      OIDC_PROXY: url,
      OIDC_REDIRECT_URIS: `${url}/callback`,
      ...env,
      HOST,
      PORT: String(port),
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
    },
  });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-50_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const close = async () => {
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
    await exited(child);
    clearTimeout(timer);
  };
  try {
    await waitUntilAnswering(url, child, () => output);
  } catch (err) {
    await close();
    throw err;
  }
  return { url, output: () => output, close };
}

async function waitUntilAnswering(url: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`next start exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    }
    try {
      const response = await fetch(`${url}/api/public`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`next start did not answer at ${url} within 60 s:\n${output()}`);
}
