export default function Home() {
  return (
    <main>
      <h1>oidc-auth Next.js example</h1>
      <p>
        Log in at <a href="/api/auth/v2/login">/api/auth/v2/login</a> (with a{" "}
        <code>redirect_uri</code> from <code>OIDC_REDIRECT_URIS</code>), then call{" "}
        <code>/api/me</code> with <code>Authorization: Bearer &lt;access_token&gt;</code>.
      </p>
    </main>
  );
}
