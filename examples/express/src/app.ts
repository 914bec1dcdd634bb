import type { OIDCAuthOptions } from "@oidc-auth/express";
import { ExpressOIDCAuth, errorResponse, OIDCAuthError, optionsFromEnv } from "@oidc-auth/express";
import type { Express, NextFunction, Request, Response } from "express";
import express from "express";
import { addProfilePage } from "./profile.js";

/**
 * The example app, the same contract as examples/hono: the auth endpoints under /api, a
 * public route, protected routes and an optional one. All configuration comes from
 * `OIDC_*` variables.
 */
export function createApp(
  env: Record<string, string | undefined>,
  overrides: OIDCAuthOptions = {},
): { app: Express; auth: ExpressOIDCAuth } {
  // The endpoints live under /api: page guards send browsers to the login there.
  const auth = new ExpressOIDCAuth(
    optionsFromEnv({ OIDC_LOGIN_PATH: "/api/auth/v2/login", ...env }, overrides),
  );
  const app = express();
  app.disable("x-powered-by");

  // Before any body parser: the endpoints read their own bounded bodies.
  app.use("/api", auth.router());
  // Readiness probe: 200 when the IdP (discovery, keys) and the broker store answer, else 503.
  app.get("/api/health", async (_req, res) => {
    await send(res, await auth.healthResponse());
  });
  app.get("/api/public", (_req, res) => {
    res.json({ message: "Anyone may read this." });
  });
  app.get("/api/me", auth.required(), (req, res) => {
    const token = verified(req);
    res.json({
      sub: token.sub,
      preferred_username: token.preferred_username,
      email: token.email,
      roles: token.roles,
      scope: token.scope,
      claims: token,
    });
  });
  app.get("/api/admin", auth.required({ claims: { roles: ["admin"] } }), (req, res) => {
    const token = verified(req);
    res.json({ message: `Welcome, administrator ${token.preferred_username ?? token.sub}.` });
  });
  app.get("/api/email-scope", auth.required({ scopes: "email" }), (req, res) => {
    res.json({ email: verified(req).email });
  });
  app.get(
    "/api/staff",
    auth.required({ claims: { "realm_access.roles": ["admin"], groups: ["/staff"] } }),
    (_req, res) => {
      res.json({ staff: true });
    },
  );
  app.get("/api/hello", auth.optional(), (req, res) => {
    const token = req.auth;
    res.json({ hello: token ? (token.preferred_username ?? token.sub) : "anonymous" });
  });
  addProfilePage(app, auth);
  app.get(["/", "/callback"], (_req, res) => {
    res.type("html").send(PAGE);
  });
  // Unknown routes and unexpected failures answer like the auth endpoints: JSON, no-store.
  app.use(async (_req: Request, res: Response) => {
    await send(res, errorResponse(new OIDCAuthError(404, "not_found", "No such route.")));
  });
  app.use(async (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    console.error("[example] unhandled error:", err instanceof Error ? err.name : typeof err);
    await send(res, errorResponse(err));
  });
  return { app, auth };
}

/** The token `required()` put in `req.auth` (set on every request that reaches the handler). */
function verified(req: Request) {
  if (!req.auth) throw new Error("route without auth.required()");
  return req.auth;
}

/** Sends a Fetch API Response (the core's answers) through Express. */
async function send(res: Response, response: globalThis.Response): Promise<void> {
  res.status(response.status);
  response.headers.forEach((value, name) => {
    res.append(name, value);
  });
  res.send(Buffer.from(await response.arrayBuffer()));
}

/** The page the IdP sends the browser back to; the tests use the API, not this page. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oidc-auth Express example</title></head>
<body><h1>oidc-auth Express example</h1>
<p>Start a login at <code>/api/auth/v2/login?redirect_uri=</code> this page's
<code>/callback</code> URL; the callback's query goes to <code>/api/auth/v2/callback</code>,
which answers the tokens. Or open <a href="/profile">/profile</a>: a page of a browser
session (a cookie, no token in the page).</p></body></html>
`;
