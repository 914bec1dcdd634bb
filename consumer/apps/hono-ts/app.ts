import { HonoOIDCAuth, optionsFromEnv } from "@oidc-auth/hono";
import { Hono } from "hono";

// OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_AUDIENCE, OIDC_SECRET, …
const auth = new HonoOIDCAuth(optionsFromEnv(process.env));

export const app = new Hono();
app.route("/api", auth.routes()); // /api/auth/v2/login, callback, token, device, logout, userinfo
app.get("/api/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
