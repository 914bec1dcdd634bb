import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

// A state-changing route: with the session cookie, only from the app's own pages (a
// cross-site POST is refused with 403); with a bearer token, from anywhere.
export const POST = auth.withAuth(async (request, { token }) => {
  const form = await request.formData();
  return Response.json({ sub: token.sub, note: String(form.get("note") ?? "") });
});
