import { auth } from "@/lib/auth";

export const GET = auth.withAuth(async (_request, { token }) => Response.json({ sub: token.sub }));
