export default function Home() {
  return (
    <main>
      <h1>oidc-auth Next.js example</h1>
      <p>
        <a href="/profile">Your profile</a>: a page rendered on the server from the browser session
        (sign in, and back).
      </p>
      <p>
        API clients log in at <code>/api/auth/v2/login</code> with a <code>redirect_uri</code> from{" "}
        <code>OIDC_REDIRECT_URIS</code> and call <code>/api/me</code> with{" "}
        <code>Authorization: Bearer &lt;access_token&gt;</code>.
      </p>
    </main>
  );
}
