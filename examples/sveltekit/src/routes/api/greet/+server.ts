import { json } from "@sveltejs/kit";
import { auth } from "../../../lib/server/auth.js";

// A POST the page's own scripts (cookie) or other clients (bearer token) may send; a
// cross-site POST carrying the cookie is refused (403) before this handler runs.
export const POST = auth.withAuth(async ({ request, locals: { token } }) => {
  const body = (await request.json().catch(() => null)) as { name?: unknown } | null;
  const name = typeof body?.name === "string" ? body.name.trim().slice(0, 100) : "";
  const user = token.preferred_username ?? token.sub;
  return json({ greeting: `Hello, ${name || "stranger"}! Greetings from ${user}.` });
});
