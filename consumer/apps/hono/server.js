import { serve } from "@hono/node-server";
import { HonoOIDCAuth, optionsFromEnv } from "@oidc-auth/hono";
import { Hono } from "hono";

// OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_AUDIENCE, OIDC_SECRET, …
const auth = new HonoOIDCAuth(optionsFromEnv(process.env));

const app = new Hono();
app.route("/api", auth.routes()); // /api/auth/v2/login, callback, token, device, logout, userinfo
app.get("/api/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));

serve({ fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? 3000) }, (info) =>
  console.log(`listening on http://127.0.0.1:${info.port}`),
);
