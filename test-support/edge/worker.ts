/**
 * The example contract as a Cloudflare-style module worker: `@oidc-auth/hono` on workerd,
 * configured from the worker's env bindings (OIDC_* strings), with no Node built-ins.
 * test/workerd.test.ts bundles it with esbuild and runs it in miniflare without
 * `nodejs_compat`.
 */
import { HonoOIDCAuth, optionsFromEnv } from "@oidc-auth/hono";
import { Hono } from "hono";

type Bindings = Record<string, unknown>;

function stringsOf(env: Bindings): Record<string, string> {
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === "string") strings[name] = value;
  }
  return strings;
}

function createWorkerApp(env: Record<string, string>) {
  // Warnings only: workerd prints them on the test's stderr.
  const auth = new HonoOIDCAuth(optionsFromEnv(env));
  const app = new Hono();
  app.route("/api", auth.routes());
  app.get("/api/public", (c) => c.json({ message: "Anyone may read this." }));
  app.get("/api/me", auth.required(), (c) => {
    const token = c.get("token");
    return c.json({
      sub: token.sub,
      preferred_username: token.preferred_username,
      email: token.email,
      roles: token.roles,
      scope: token.scope,
      claims: token,
    });
  });
  app.get("/api/admin", auth.required({ claims: { roles: ["admin"] } }), (c) =>
    c.json({ message: `Welcome, administrator ${c.get("token").preferred_username}.` }),
  );
  app.get("/api/email-scope", auth.required({ scopes: "email" }), (c) =>
    c.json({ email: c.get("token").email }),
  );
  app.get(
    "/api/staff",
    auth.required({ claims: { "realm_access.roles": ["admin"], groups: ["/staff"] } }),
    (c) => c.json({ staff: true }),
  );
  app.get("/api/hello", auth.optional(), (c) => {
    const token = c.get("token");
    return c.json({ hello: token ? (token.preferred_username ?? token.sub) : "anonymous" });
  });
  // What the runtime is, so the test knows it is not talking to Node.
  app.get("/runtime", (c) =>
    c.json({
      userAgent: globalThis.navigator?.userAgent ?? null,
      process: typeof (globalThis as { process?: unknown }).process,
      buffer: typeof (globalThis as { Buffer?: unknown }).Buffer,
    }),
  );
  return app;
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
