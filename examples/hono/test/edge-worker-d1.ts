/**
 * The Hono example as a Cloudflare-style module worker in broker mode on a D1 database (the
 * `DB` binding): the broker's sessions, signing keys and rate limits live in D1, shared by
 * every isolate, instead of one isolate's memory. test/workerd-d1.test.ts bundles it with
 * esbuild and runs it in miniflare (workerd) with a local D1 database.
 */
import { createD1BrokerStore, type D1Binding } from "@oidc-auth/drizzle/d1";
import type { Hono } from "hono";
import { createApp } from "../src/app.js";

type Bindings = Record<string, unknown> & { DB: D1Binding };

function stringsOf(env: Bindings): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === "string") strings[name] = value;
  }
  return strings;
}

// Built on the first request: workerd forbids I/O in the global scope, and the bindings
// arrive with the request. The store itself is in D1, so a new isolate sees the same sessions.
let app: Hono | undefined;

export default {
  fetch(request: Request, env: Bindings): Response | Promise<Response> {
    app ??= createApp(stringsOf(env), { brokerStore: createD1BrokerStore(env.DB) }).app;
    return app.fetch(request);
  },
};
