import { HonoOIDCAuth, optionsFromEnv } from "@oidc-auth/hono";
import { Hono } from "hono";

function createApp(env) {
  const auth = new HonoOIDCAuth(optionsFromEnv(env)); // OIDC_* from the worker's bindings
  const app = new Hono();
  app.route("/api", auth.routes());
  app.get("/api/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
  return app;
}

// Built on the first request: the bindings arrive with it, and workerd forbids I/O and
// randomness at the top level. Broker mode here needs OIDC_BROKER_STORE_URL=memory://.
let app;
export default {
  fetch(request, env, ctx) {
    app ??= createApp(env);
    return app.fetch(request, env, ctx);
  },
};
