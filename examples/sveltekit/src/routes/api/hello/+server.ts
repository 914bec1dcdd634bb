import type { RequestHandler } from "@sveltejs/kit";
import { json } from "@sveltejs/kit";

// Optional authentication: the hook has set locals.token (or null).
export const GET: RequestHandler = ({ locals: { token } }) =>
  json({ hello: token?.preferred_username ?? token?.sub ?? "anonymous" });
