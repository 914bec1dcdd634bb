import { redirect } from "next/navigation";
import { auth } from "@/lib/auth";

export const dynamic = "force-dynamic";

/** A server action: it checks the session itself (a cross-site request gets none). */
async function sayHello() {
  "use server";
  await auth.requireSession();
  redirect("/profile?greeted=1");
}

/**
 * Rendered on the server from the browser session: no token reaches the page. Without a
 * session, requireSession() sends the browser to the login and back here.
 */
export default async function Profile({
  searchParams,
}: {
  searchParams: Promise<{ greeted?: string }>;
}) {
  const { token, csrfToken } = await auth.requireSession();
  const { greeted } = await searchParams;
  return (
    <main>
      <h1>Profile</h1>
      <p>
        Signed in as <strong id="username">{token.preferred_username ?? token.sub}</strong>
      </p>
      <h2>Roles</h2>
      <ul id="roles">
        {token.roles.map((role) => (
          <li key={role}>{role}</li>
        ))}
      </ul>
      {greeted === "1" && <p id="greeting">Hello! A server action checked your session.</p>}
      <form action={sayHello}>
        <button type="submit" id="hello">
          Say hello
        </button>
      </form>
      <form method="post" action="/api/auth/v2/logout">
        <input type="hidden" name="csrf_token" value={csrfToken} />
        <input type="hidden" name="post_logout_redirect_uri" value="/" />
        <button type="submit" id="logout">
          Sign out
        </button>
      </form>
    </main>
  );
}
