import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

export const GET = auth.withAuth(async (_request, { token }) =>
  Response.json({
    sub: token.sub,
    preferred_username: token.preferred_username,
    email: token.email,
    roles: token.roles,
    scope: token.scope,
    claims: token,
  }),
);
