import { json } from "@sveltejs/kit";
import { auth } from "../../../lib/server/auth.js";

export const GET = auth.withAuth(
  ({ locals: { token } }) =>
    json({ message: `Welcome, administrator ${token.preferred_username ?? token.sub}.` }),
  { claims: { roles: ["admin"] } },
);
