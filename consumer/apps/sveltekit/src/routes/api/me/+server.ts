import { json } from "@sveltejs/kit";
import { auth } from "$lib/server/auth";

export const GET = auth.withAuth(({ locals }) => json({ sub: locals.token.sub }));
