import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const exampleDir = fileURLToPath(new URL("../examples/hono/", import.meta.url));

/** One instance of the Hono example in a process of its own (`src/main.ts`, configured by env). */
export interface Instance {
  url: string;
  process: ChildProcess;
  /** SIGSTOP: the process is frozen on the spot, whatever it was doing. */
  freeze(): void;
  /** SIGKILL: the process dies on the spot, whatever it was doing. */
  kill(): void;
  stop(): Promise<void>;
}

export async function startInstance(env: Record<string, string>): Promise<Instance> {
  // node itself with tsx's loader (not the tsx CLI, which would run node as a child of its
  // own): a signal to this process reaches the server.
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: exampleDir,
    env: { ...process.env, NODE_ENV: "test", HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`instance did not start: ${stderr}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`instance exited with ${code}: ${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    process: child,
    freeze: () => child.kill("SIGSTOP"),
    kill: () => child.kill("SIGKILL"),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
