/**
 * The demo page: log in through the IdP, see the token's claims, call protected routes,
 * refresh, start a device login, log out. Plain HTML and a little script; every value is
 * written with textContent (no HTML injection from claims).
 */
export function demoPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oidc-auth demo</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
  button, a.button { font: inherit; padding: .4rem .9rem; margin: .2rem .3rem .2rem 0; border: 1px solid #888; border-radius: .4rem; background: #f4f4f6; color: inherit; text-decoration: none; cursor: pointer; }
  pre { background: #f4f4f6; padding: .8rem; border-radius: .4rem; overflow: auto; }
  .muted { color: #666; }
  #status { font-weight: 600; }
</style>
</head>
<body>
<h1>oidc-auth demo</h1>
<p class="muted">A Hono app protected by oidc-auth. Log in through the identity provider, then call the protected routes with the token.</p>
<p id="status">Not logged in.</p>
<p>
  <button id="login">Log in</button>
  <button id="me">Call /api/me</button>
  <button id="admin">Call /api/admin</button>
  <button id="refresh">Refresh token</button>
  <button id="device">Start device login</button>
  <button id="logout">Log out</button>
</p>
<div id="device-box" hidden>
  <p>Open <a id="device-link" target="_blank" rel="noopener"></a> and enter the code <strong id="device-code"></strong>. Waiting for approval&hellip;</p>
</div>
<h2>Claims</h2>
<pre id="claims">(none)</pre>
<h2>Last response</h2>
<pre id="output">(none)</pre>
<script type="module">
const api = "/api/auth/v2";
const $ = (id) => document.getElementById(id);
const show = (id, value) => { $(id).textContent = typeof value === "string" ? value : JSON.stringify(value, null, 2); };
const tokens = () => JSON.parse(sessionStorage.getItem("tokens") || "null");

async function call(path, init = {}) {
  const t = tokens();
  const headers = new Headers(init.headers || {});
  if (t) headers.set("Authorization", "Bearer " + t.access_token);
  const response = await fetch(path, { ...init, headers });
  const body = await response.json().catch(() => ({}));
  show("output", { status: response.status, body });
  return { response, body };
}

async function loggedIn(tokenAnswer) {
  sessionStorage.setItem("tokens", JSON.stringify(tokenAnswer));
  await showClaims();
}

async function showClaims() {
  if (!tokens()) { show("status", "Not logged in."); show("claims", "(none)"); return; }
  const { response, body } = await call("/api/me");
  if (response.ok) {
    show("status", "Logged in as " + (body.preferred_username || body.sub) + ".");
    show("claims", body.claims);
  } else {
    show("status", "The token was refused (" + response.status + ").");
  }
}

$("login").onclick = () => {
  const redirect = location.origin + "/callback";
  location.assign(api + "/login?redirect_uri=" + encodeURIComponent(redirect));
};
$("me").onclick = () => call("/api/me");
$("admin").onclick = () => call("/api/admin");
$("refresh").onclick = async () => {
  const t = tokens();
  if (!t || !t.refresh_token) return show("output", "No refresh token.");
  const { response, body } = await call(api + "/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ "refresh-token": t.refresh_token }),
  });
  if (response.ok) await loggedIn(body);
};
$("device").onclick = async () => {
  const { response, body } = await call(api + "/device", { method: "POST" });
  if (!response.ok) return;
  $("device-box").hidden = false;
  const link = body.verification_uri_complete || body.verification_uri;
  $("device-link").href = link;
  show("device-link", link);
  show("device-code", body.user_code);
  let interval = (body.interval || 5) * 1000;
  const poll = async () => {
    const r = await fetch(api + "/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "device-code": body.device_code }),
    });
    const answer = await r.json().catch(() => ({}));
    if (r.ok) { $("device-box").hidden = true; show("output", { status: r.status, body: answer }); return loggedIn(answer); }
    if (answer.error === "slow_down") interval += 5000;
    if (answer.error === "authorization_pending" || answer.error === "slow_down") return setTimeout(poll, interval);
    $("device-box").hidden = true;
    show("output", { status: r.status, body: answer });
  };
  setTimeout(poll, interval);
};
$("logout").onclick = async () => {
  const t = tokens();
  sessionStorage.removeItem("tokens");
  if (t && t.refresh_token) {
    // Broker mode: revoke the session server-side before leaving for the IdP's logout.
    await fetch(api + "/logout", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "refresh-token": t.refresh_token }),
      redirect: "manual",
    }).catch(() => {});
  }
  location.assign(api + "/logout?post_logout_redirect_uri=" + encodeURIComponent(location.origin + "/"));
};

const params = new URLSearchParams(location.search);
if (location.pathname === "/callback" && (params.has("code") || params.has("error"))) {
  const r = await fetch(api + "/callback" + location.search);
  const answer = await r.json().catch(() => ({}));
  history.replaceState(null, "", "/");
  if (r.ok) await loggedIn(answer);
  else { show("status", "Login failed."); show("output", { status: r.status, body: answer }); }
} else {
  await showClaims();
}
</script>
</body>
</html>`;
}
