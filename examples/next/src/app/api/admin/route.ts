import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

export const GET = auth.withAuth(
  async (_request, { token }) =>
    Response.json({
      message: `Welcome, administrator ${token.preferred_username ?? token.sub}.`,
    }),
  { claims: { roles: ["admin"] } },
);
