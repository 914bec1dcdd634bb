import { json } from "@sveltejs/kit";
import { auth } from "../../../lib/server/auth.js";

export const GET = auth.withAuth(({ locals: { token } }) =>
  json({
    sub: token.sub,
    preferred_username: token.preferred_username,
    email: token.email,
    roles: token.roles,
    scope: token.scope,
    claims: token,
  }),
);
