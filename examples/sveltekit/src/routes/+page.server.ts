import type { ServerLoad } from "@sveltejs/kit";

// Who is signed in, from the session cookie (auth.handle() put it into locals).
export const load: ServerLoad = ({ locals: { session } }) => ({
  username: session ? (session.token.preferred_username ?? session.token.sub) : null,
});
