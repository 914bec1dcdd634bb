import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

export const GET = auth.withAuth(async () => Response.json({ staff: true }), {
  claims: { "realm_access.roles": ["admin"], groups: ["/staff"] },
});
