import { auth } from "$lib/server/auth";

// Serves /api/auth/v2/* and sets event.locals.token (the verified token, or null).
export const handle = auth.handle({ prefix: "/api" });
