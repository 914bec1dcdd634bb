import type { BrowserSession } from "@oidc-auth/hono";

/** Text for HTML: every character that could open markup or leave an attribute is escaped. */
function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

/**
 * The server-rendered profile page of a browser session: who is signed in, their roles,
 * and plain HTML forms (no JavaScript) for a protected POST and for logout. The forms
 * carry the session's CSRF token for browsers that send no `Origin` header.
 */
export function profilePage(session: BrowserSession, greeting?: string): string {
  const { token } = session;
  const name = token.preferred_username ?? token.sub;
  const roles = token.roles.length
    ? token.roles.map((r) => `<li>${escapeHtml(r)}</li>`).join("")
    : "<li><em>none</em></li>";
  const csrf = escapeHtml(session.csrfToken);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Profile · oidc-auth</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
  form { display: inline-block; margin: 0.5rem 0.5rem 0 0; }
  button { font: inherit; padding: 0.4rem 1rem; }
</style>
</head>
<body>
<h1>Profile</h1>
<p>Signed in as <strong id="username">${escapeHtml(name)}</strong>${
    token.email ? ` (${escapeHtml(token.email)})` : ""
  }.</p>
<h2>Roles</h2>
<ul id="roles">${roles}</ul>
<p>This page was rendered on the server from your session cookie; no token reached this page.</p>
${greeting ? `<p id="greeting">${escapeHtml(greeting)}</p>` : ""}
<form method="post" action="/profile/hello">
  <input type="hidden" name="csrf_token" value="${csrf}">
  <button type="submit" id="hello">Say hello</button>
</form>
<form method="post" action="/api/auth/v2/logout">
  <input type="hidden" name="csrf_token" value="${csrf}">
  <input type="hidden" name="post_logout_redirect_uri" value="/">
  <button type="submit" id="logout">Log out</button>
</form>
</body>
</html>`;
}
