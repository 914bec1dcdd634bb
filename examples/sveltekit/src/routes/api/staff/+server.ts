import { json } from "@sveltejs/kit";
import { auth } from "../../../lib/server/auth.js";

export const GET = auth.withAuth(() => json({ staff: true }), {
  claims: { "realm_access.roles": ["admin"], groups: ["/staff"] },
});
