import type { ServerLoad } from "@sveltejs/kit";
import { auth } from "../../lib/server/auth.js";

// A page only a bearer of a valid token may load: 401/403/503 otherwise (SvelteKit's error page).
export const load: ServerLoad = async (event) => {
  const token = await auth.requireAuth(event);
  return {
    sub: token.sub,
    username: token.preferred_username ?? token.sub,
    email: token.email ?? null,
    roles: token.roles,
  };
};
