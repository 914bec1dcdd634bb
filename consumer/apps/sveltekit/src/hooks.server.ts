import { auth } from "$lib/server/auth";

// Serves /api/auth/v2/* and sets event.locals.token and event.locals.session (or null).
export const handle = auth.handle({ prefix: "/api" });
