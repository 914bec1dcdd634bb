/**
 * The Hono example (examples/hono/src/app.ts, the example contract) as a Cloudflare-style
 * module worker: `@oidc-auth/hono` on workerd, configured from the worker's env bindings
 * (OIDC_* strings), with no Node built-ins. test/workerd.test.ts bundles it with esbuild
 * and runs it in miniflare without `nodejs_compat`.
 */
import { Hono } from "hono";
import { createApp } from "../src/app.js";

type Bindings = Record<string, unknown>;

function stringsOf(env: Bindings): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === "string") strings[name] = value;
  }
  return strings;
}

function createWorkerApp(env: Record<string, string>) {
  const worker = new Hono();
  // What the runtime is, so the test knows it is not talking to Node.
  worker.get("/runtime", (c) =>
    c.json({
      userAgent: globalThis.navigator?.userAgent ?? null,
      process: typeof (globalThis as { process?: unknown }).process,
      buffer: typeof (globalThis as { Buffer?: unknown }).Buffer,
    }),
  );
  worker.route("/", createApp(env).app);
  return worker;
}

// Built on the first request: workerd forbids randomness and I/O in the global scope, and
// the bindings arrive with the request. The broker's memory store lives as long as the isolate.
let app: Hono | undefined;

export default {
  fetch(request: Request, env: Bindings): Response | Promise<Response> {
    app ??= createWorkerApp(stringsOf(env));
    return app.fetch(request);
  },
};
