import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface LoadResult {
  requests: number;
  durationUs: number;
  /** Connect, read, write errors and timeouts. */
  errors: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
}

export interface LoadRun {
  url: string;
  connections: number;
  seconds: number;
  /** One token per line: the first is sent every time, or all of them in turn. */
  tokenFile: string;
  rotate: boolean;
}

const luaScript = fileURLToPath(new URL("../lua/bearer.lua", import.meta.url));
const autocannonWorker = fileURLToPath(new URL("./autocannon-worker.ts", import.meta.url));
const benchDir = fileURLToPath(new URL("..", import.meta.url));

/** `wrk` when it is installed (Debian package `wrk`), else autocannon in a child process. */
export function loadGenerator(): "wrk" | "autocannon" {
  if (process.env.BENCH_LOAD === "autocannon") return "autocannon";
  try {
    execFileSync("sh", ["-c", "command -v wrk"], { stdio: "ignore" });
    return "wrk";
  } catch {
    return "autocannon";
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: benchDir, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err}${out}`)),
    );
  });
}

/** Runs the load generator against one route; answers its JSON summary. */
export async function generateLoad(
  generator: "wrk" | "autocannon",
  load: LoadRun,
): Promise<LoadResult> {
  const rotate = load.rotate ? "1" : "0";
  const output =
    generator === "wrk"
      ? await run("wrk", [
          "-t1",
          `-c${load.connections}`,
          `-d${load.seconds}s`,
          "--timeout",
          "10s",
          "-s",
          luaScript,
          load.url,
          "--",
          new URL(load.url).pathname,
          load.tokenFile,
          rotate,
        ])
      : await run(process.execPath, [
          "--import",
          "tsx",
          autocannonWorker,
          load.url,
          String(load.connections),
          String(load.seconds),
          load.tokenFile,
          rotate,
        ]);
  const line = output.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no summary from ${generator}: ${output}`);
  return JSON.parse(line) as LoadResult;
}
