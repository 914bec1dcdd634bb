/** Where the IdP sends the browser back; the API's callback endpoint finishes the login. */
export default function Callback() {
  return (
    <main>
      <h1>Signing in…</h1>
      <p>
        Pass this page's query to <code>/api/auth/v2/callback</code> (with the transaction cookie)
        to get the tokens.
      </p>
    </main>
  );
}
