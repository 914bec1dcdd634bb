/**
 * Edge-runtime tools shared by the workerd tests: bundle a worker the way an edge
 * deployment would (esbuild, one ES module, workerd's export conditions, Web APIs only) and
 * run it in workerd through miniflare, without `nodejs_compat`.
 */
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

export interface WorkerBundle {
  code: string;
  /** Every file esbuild read, as paths relative to `cwd`. */
  inputs: string[];
  /** Imports left unresolved in the bundle (there should be none). */
  externalImports: string[];
}

/** Bundles `entry` (relative to `cwd`, whose node_modules it resolves from). */
export async function bundleForWorkerd(entry: string, cwd?: string): Promise<WorkerBundle> {
  const result = await build({
    ...(cwd ? { absWorkingDir: cwd } : {}),
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "browser", "import"],
    metafile: true,
    logLevel: "silent",
  });
  const output = Object.values(result.metafile.outputs)[0];
  return {
    code: result.outputFiles[0]?.text ?? "",
    inputs: Object.keys(result.metafile.inputs),
    externalImports: (output?.imports ?? []).filter((i) => i.external).map((i) => i.path),
  };
}

/** A free port on 127.0.0.1 (a worker's URL is often one of its bindings, so it comes first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs a bundled worker in workerd on 127.0.0.1:`port`, with string bindings. Miniflare's
 * outbound network allows private addresses, so the worker reaches a local IdP. The module
 * is listed rather than discovered: miniflare's module walker refuses any `import(variable)`,
 * and the core has one (the Node-only store package, never loaded on the edge).
 */
export async function startWorkerd(
  code: string,
  port: number,
  bindings: Record<string, string>,
  /** D1 databases by binding name → database id (local, in memory, gone on close). */
  d1Databases?: Record<string, string>,
): Promise<{ url: string; close(): Promise<void>; mf: Miniflare }> {
  const mf = new Miniflare({
    ...(d1Databases ? { d1Databases, d1Persist: false } : {}),
    modules: [{ type: "ESModule", path: "worker.mjs", contents: code }],
    compatibilityDate: "2026-04-01",
    compatibilityFlags: [],
    bindings,
    host: "127.0.0.1",
    port,
  });
  await mf.ready;
  return { url: `http://127.0.0.1:${port}`, close: () => mf.dispose(), mf };
}
