import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

export const GET = auth.withOptionalAuth(async (_request, { token }) =>
  Response.json({ hello: token ? (token.preferred_username ?? token.sub) : "anonymous" }),
);
