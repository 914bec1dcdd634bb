/**
 * The demo as a person runs it, in a child process: `pnpm demo` from the repository root,
 * or (faster, no build) the demo's entry with node directly. Its own process group, so a
 * test can press "Ctrl-C" (SIGINT to the group, as a terminal does).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const exampleDir = fileURLToPath(new URL("..", import.meta.url));

export interface DemoProcess {
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once `text` was printed; rejects when the demo exits first or after `ms`. */
  printed(text: string | RegExp, ms?: number): Promise<void>;
  /** The exit code (or signal name), once the demo has ended. */
  exited: Promise<number | string>;
  /** The value printed after `label` on the banner, e.g. `line("app:")`. */
  line(label: string): string;
  /** Sends `signal` to the whole process group and waits for the end. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts the demo with exactly `env` on top of a clean environment (no inherited OIDC_*).
 * `viaPnpm`: the way the README says (`pnpm demo` at the root, which builds first).
 */
export function startDemo(env: Record<string, string>, viaPnpm = false): DemoProcess {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("OIDC_")) base[k] = v;
  const child = viaPnpm
    ? spawn("pnpm", ["demo"], {
        cwd: root,
        env: { ...base, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      })
    : spawn(process.execPath, ["--import", "tsx", "src/demo.ts"], {
        cwd: exampleDir,
        env: { ...base, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      resolve(code ?? signal ?? "unknown");
      for (const listener of listeners) listener();
    }),
  );
  const demo: DemoProcess = {
    child,
    output: () => output,
    exited,
    printed(text, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`demo did not print ${text} within ${ms} ms:\n${output}`));
        }, ms);
        const check = () => {
          const found = typeof text === "string" ? output.includes(text) : text.test(output);
          if (found || child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            listeners.delete(check);
            if (found) resolve();
            else reject(new Error(`demo exited before printing ${text}:\n${output}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
    line(label) {
      const match = new RegExp(`${label}\\s+(\\S+)`).exec(output);
      if (!match?.[1]) throw new Error(`no "${label}" line in:\n${output}`);
      return match[1];
    },
    async stop(signal = "SIGINT") {
      if (child.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // already gone
        }
      }
      return exited;
    },
  };
  return demo;
}
