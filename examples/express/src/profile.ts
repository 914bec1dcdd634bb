import type { ExpressOIDCAuth } from "@oidc-auth/express";
import type { Express } from "express";

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);

/**
 * The server-rendered profile page of a browser session: a navigation without a session
 * goes through the login and back; the page shows the user and their roles, and logs out
 * with a plain form (the session's CSRF token in it). No JavaScript anywhere.
 */
export function addProfilePage(app: Express, auth: ExpressOIDCAuth): void {
  const page = auth.required({ accept: "session", redirectToLogin: true });
  app.get("/profile", page, async (req, res) => {
    const session = await auth.sessionOf(req, res);
    if (!session) {
      res.redirect(303, "/profile");
      return;
    }
    const { token, csrfToken } = session;
    const roles = token.roles.map((r) => `<li>${escapeHtml(r)}</li>`).join("");
    res.set("Cache-Control", "no-store");
    res.type("html").send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Profile · oidc-auth Express example</title></head>
<body><h1>Profile</h1>
<p>Signed in as <strong id="username">${escapeHtml(token.preferred_username ?? token.sub)}</strong>.</p>
<h2>Roles</h2><ul id="roles">${roles || "<li><em>none</em></li>"}</ul>
<form method="post" action="/api/auth/v2/logout">
  <input type="hidden" name="csrf_token" value="${escapeHtml(csrfToken)}">
  <input type="hidden" name="post_logout_redirect_uri" value="/">
  <button type="submit" id="logout">Log out</button>
</form></body></html>
`);
  });
}
