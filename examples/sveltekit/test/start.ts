import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const exampleDir = fileURLToPath(new URL("..", import.meta.url));
const repoDir = join(exampleDir, "..", "..");
const buildDir = join(exampleDir, "build");
/** Written after a successful build, dated when the build started reading its sources. */
const stampFile = join(buildDir, ".sources-stamp");
/** Held (mkdir is atomic) by the one process that builds; the others wait for it. */
const lockDir = join(exampleDir, ".build-lock");

/** What the server build is made of: the app and the workspace packages bundled into it. */
const SOURCES = [
  join(exampleDir, "src"),
  join(exampleDir, "svelte.config.js"),
  join(exampleDir, "vite.config.ts"),
  join(exampleDir, "package.json"),
  join(repoDir, "pnpm-lock.yaml"),
  join(repoDir, "packages", "core", "dist"),
  join(repoDir, "packages", "sveltekit", "dist"),
  join(repoDir, "packages", "drizzle", "dist"),
];

const BUILD_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A running `node build` of the example. */
export interface RunningExample {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  /** What the server printed so far (stdout and stderr). */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its data folder. Idempotent. */
  close(): Promise<void>;
}

async function newestChange(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of await readdir(path)) {
    newest = Math.max(newest, await newestChange(join(path, entry)));
  }
  return newest;
}

async function buildIsFresh(): Promise<boolean> {
  const stamp = await stat(stampFile).catch(() => undefined);
  if (!stamp) return false;
  const changes = await Promise.all(SOURCES.map(newestChange));
  return Math.max(...changes) <= stamp.mtimeMs;
}

/** Runs fn while holding the build lock (a lock older than the build timeout is stale). */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      const held = await stat(lockDir).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > BUILD_TIMEOUT_MS) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** The test runner's environment without its own and oidc-auth's variables. */
function buildEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(VITEST|OIDC_|NODE_ENV$|TEST$)/.test(name)) env[name] = value;
  }
  return { ...env, NODE_ENV: "production" };
}

async function viteBuild(): Promise<void> {
  const vite = join(exampleDir, "node_modules", "vite", "bin", "vite.js");
  const child = spawn(process.execPath, [vite, "build"], {
    cwd: exampleDir,
    env: buildEnvironment(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), BUILD_TIMEOUT_MS);
    child.once("error", reject);
    child.once("exit", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`vite build failed (exit ${code}):\n${output}`);
}

let building: Promise<void> | undefined;

/**
 * Makes sure build/ is the build of the current sources: runs `vite build` when it is
 * missing or older than any source. Once per process; across processes, one builds while
 * the others wait on a lock and then find the build fresh.
 */
export function buildExample(): Promise<void> {
  building ??= withBuildLock(async () => {
    if (await buildIsFresh()) return;
    const started = new Date();
    await viteBuild();
    await writeFile(stampFile, "");
    await utimes(stampFile, started, started);
  }).catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

/** A port that was free a moment ago (bound to port 0 and released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port bound");
  return address.port;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await gone;
  clearTimeout(timer);
}

/**
 * Starts the built example (`node build`, adapter-node) with `env` as its whole
 * configuration, on 127.0.0.1 and a free port, and resolves once it answers HTTP.
 *
 * - The build is made first if needed (see {@link buildExample}): the first call of a test
 *   run may take ~15 s, so give that hook a longer timeout.
 * - The child's environment is `PATH`; like a deployment, what depends on the URL:
 *   `OIDC_PROXY` = the base URL and `OIDC_REDIRECT_URIS` = its `/callback` (the redirect URI
 *   of the tests' scripted token logins, which read the code from it; the app serves no page
 *   there, its browser logins end at `/api/auth/v2/callback`); then
 *   `env`, then `configure(url)` (later ones win). `HOST` and `PORT` are always this
 *   function's. Nothing else of the test runner's environment leaks in.
 * - Unless `env` sets `OIDC_DATA_DIR`, the embedded broker store lives in a fresh temporary
 *   folder, removed by `close()`.
 */
export async function startExample(
  env: Record<string, string>,
  configure?: (url: string) => Record<string, string>,
): Promise<RunningExample> {
  await buildExample();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir =
    env.OIDC_DATA_DIR === undefined
      ? await mkdtemp(join(tmpdir(), "oidc-auth-sveltekit-"))
      : undefined;
  const child = spawn(process.execPath, [buildDir], {
    cwd: exampleDir,
    env: {
      PATH: process.env.PATH ?? "",
      SHUTDOWN_TIMEOUT: "2",
      ...(dataDir === undefined ? {} : { OIDC_DATA_DIR: dataDir }),
      OIDC_PROXY: url,
      OIDC_REDIRECT_URIS: `${url}/callback`,
      ...env,
      ...configure?.(url),
      HOST: "127.0.0.1",
      PORT: String(port),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-50_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      process.off("exit", killOnExit);
      await stopChild(child);
      if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
    })();
    return closing;
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited(child)) {
      await close();
      throw new Error(`the example exited before answering (${child.exitCode}):\n${output}`);
    }
    const answered = await fetch(`${url}/api/public`, { signal: AbortSignal.timeout(1_000) })
      .then(async (response) => {
        await response.body?.cancel();
        return true;
      })
      .catch(() => false);
    if (answered) break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`the example did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await sleep(100);
  }
  return { url, output: () => output, close };
}
