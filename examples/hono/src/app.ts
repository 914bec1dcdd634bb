import type { OIDCAuthOptions } from "@oidc-auth/hono";
import { errorResponse, HonoOIDCAuth, OIDCAuthError, optionsFromEnv } from "@oidc-auth/hono";
import { Hono } from "hono";
import { DEMO_ICON, demoPage } from "./demo-page.js";
import { profilePage } from "./profile-page.js";

/**
 * The example app: the auth endpoints under /api, a public route, protected routes and an
 * optional one, and the demo page. All configuration comes from `OIDC_*` variables.
 */
export function createApp(
  env: Record<string, string | undefined>,
  overrides: OIDCAuthOptions = {},
) {
  // The endpoints live under /api: page guards send browsers to the login there.
  const auth = new HonoOIDCAuth(
    optionsFromEnv({ OIDC_LOGIN_PATH: "/api/auth/v2/login", ...env }, overrides),
  );
  const app = new Hono();

  app.route("/api", auth.routes());
  // Readiness probe: 200 when the IdP (discovery, keys) and the broker store answer, else 503.
  app.get("/api/health", () => auth.healthResponse());
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
    c.json({
      message: `Welcome, administrator ${c.get("token").preferred_username ?? c.get("token").sub}.`,
    }),
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
  // Unknown routes and unexpected failures answer like the auth endpoints: JSON, no-store.
  app.notFound(() => errorResponse(new OIDCAuthError(404, "not_found", "No such route.")));
  app.onError((err) => {
    console.error("[example] unhandled error:", err.name);
    return errorResponse(err);
  });
  app.get("/favicon.ico", (c) =>
    c.body(DEMO_ICON, 200, {
      "Content-Type": "image/svg+xml",
      "Cache-Control": "public, max-age=86400",
    }),
  );
  // A page of a browser session: a navigation without one goes through the login and back.
  const page = auth.required({ accept: "session", redirectToLogin: true });
  app.get("/profile", page, async (c) => {
    const session = await auth.session(c.req.raw);
    if (!session) return c.redirect("/profile");
    return c.html(profilePage(session), 200, { "Cache-Control": "no-store" });
  });
  // A form POST authenticated by the session cookie: only from this app's own pages.
  app.post("/profile/hello", page, async (c) => {
    const session = await auth.session(c.req.raw);
    if (!session) return c.redirect("/profile", 303);
    const name = c.get("token").preferred_username ?? c.get("token").sub;
    return c.html(profilePage(session, `Hello, ${name}!`), 200, { "Cache-Control": "no-store" });
  });
  app.get("/", (c) => c.html(demoPage()));
  app.get("/callback", (c) => c.html(demoPage()));
  return { app, auth };
}
