import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs a TypeScript file of the bench in a child process (through tsx), passing its
 * output through and answering the JSON of its `RESULT ` line. Each part that measures
 * runs in a process of its own: the dev IdP (Koa, oidc-provider) turns on async hooks,
 * which make every promise in its process several times slower.
 */
export function runBenchChild<T>(script: string, env: Record<string, string>): Promise<T> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", fileURLToPath(new URL(script, import.meta.url))],
    {
      cwd: benchDir,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise<T>((resolve, reject) => {
    let buffered = "";
    let result: T | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith("RESULT ")) result = JSON.parse(line.slice(7)) as T;
        else console.log(line);
        newline = buffered.indexOf("\n");
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`${script} exited ${code}`));
    });
  });
}
