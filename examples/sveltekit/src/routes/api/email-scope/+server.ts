import { json } from "@sveltejs/kit";
import { auth } from "../../../lib/server/auth.js";

export const GET = auth.withAuth(({ locals: { token } }) => json({ email: token.email }), {
  scopes: "email",
});
