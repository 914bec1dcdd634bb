import { auth } from "@/lib/auth";

export const runtime = "edge";

export const GET = auth.withAuth(async (_request, { token }) =>
  Response.json({ sub: token.sub, runtime: "edge" }),
);
