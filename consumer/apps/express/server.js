import { ExpressOIDCAuth, optionsFromEnv } from "@oidc-auth/express";
import express from "express";

// OIDC_DISCOVERY_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_AUDIENCE, OIDC_SECRET, …
const auth = new ExpressOIDCAuth(optionsFromEnv(process.env));

const app = express();
app.use("/api", auth.router()); // /api/auth/v2/login, callback, token, device, logout, userinfo
app.use(express.json()); // body parsers after the router: its endpoints read their own bodies
app.get("/api/me", auth.required(), (req, res) => res.json({ sub: req.auth.sub }));

const server = app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () =>
  console.log(`listening on http://127.0.0.1:${server.address().port}`),
);
