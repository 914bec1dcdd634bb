import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

export const GET = auth.withAuth(
  async (_request, { token }) => Response.json({ email: token.email }),
  {
    scopes: "email",
  },
);
