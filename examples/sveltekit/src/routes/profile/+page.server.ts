import type { Actions, ServerLoad } from "@sveltejs/kit";
import { auth } from "../../lib/server/auth.js";

// A page for signed-in users, rendered on the server. A browser without a session is sent to
// the login and back here; a bearer token works too (401/403/503 otherwise).
export const load: ServerLoad = async (event) => {
  const token = await auth.requireAuth(event);
  return {
    username: token.preferred_username ?? token.sub,
    email: token.email ?? null,
    roles: token.roles,
    // For the logout form (not a secret from the page; useless without the HttpOnly cookie).
    csrfToken: event.locals.session?.csrfToken ?? null,
  };
};

export const actions: Actions = {
  // A form action that uses the session: posted from this page, with or without JavaScript.
  hello: async (event) => {
    const token = await auth.requireAuth(event);
    const name = String((await event.request.formData()).get("name") ?? "").trim();
    const user = token.preferred_username ?? token.sub;
    return { greeting: `Hello, ${name.slice(0, 100) || "stranger"}! Greetings from ${user}.` };
  },
};
