/** The demo's icon: a key on the page's accent colour (also served as /favicon.ico). */
export const DEMO_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#3451b2"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h10m-3 0v4m-4-4v3" stroke="#fff" stroke-width="3" stroke-linecap="round"/></svg>`;

/**
 * The demo page: who is logged in and how, the access token's remaining lifetime, the
 * claims with the flattened roles, each action's request and answer beside its button,
 * a timeline of what happened, and the device login with its code, link and QR code.
 * Plain HTML, CSS and a module script, no external assets; every value from a token or an
 * answer is written with textContent (no HTML injection from claims). The QR encoder is
 * loaded from /demo/qr.js when the server offers it (Node), else the link alone is shown.
 */
export function demoPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oidc-auth demo</title>
<link rel="icon" href="data:image/svg+xml,${encodeURIComponent(DEMO_ICON)}">
<style>
  :root { --accent: #3451b2; --ok: #18794e; --err: #c4320a; --muted: #5f6672; --line: #e3e6ec; --bg: #f6f7f9; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: var(--bg); color: #1b1f24; }
  header { background: #fff; border-bottom: 1px solid var(--line); padding: .7rem 1.5rem; display: flex; align-items: center; gap: .7rem; }
  header img { width: 26px; height: 26px; }
  header h1 { font-size: 1.15rem; margin: 0; }
  header p { margin: 0; color: var(--muted); }
  main { display: grid; grid-template-columns: minmax(0, 1.05fr) minmax(0, 1fr); gap: 1rem; padding: 1rem 1.5rem; max-width: 78rem; margin: 0 auto; }
  section { background: #fff; border: 1px solid var(--line); border-radius: .6rem; padding: .9rem 1rem; min-width: 0; }
  h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 .6rem; }
  #status { font-size: 1.25rem; font-weight: 650; margin: 0; }
  #how { color: var(--muted); margin: .1rem 0 .6rem; min-height: 1.2em; }
  .lifetime { display: flex; align-items: center; gap: .6rem; margin-bottom: .7rem; }
  .bar { flex: 1; height: .45rem; background: var(--line); border-radius: 1rem; overflow: hidden; }
  .bar > div { height: 100%; width: 0; background: var(--ok); transition: width .9s linear; }
  #expires { font-variant-numeric: tabular-nums; white-space: nowrap; }
  button { font: inherit; font-weight: 550; padding: .38rem .8rem; border: 1px solid var(--accent); border-radius: .4rem; background: var(--accent); color: #fff; cursor: pointer; white-space: nowrap; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { border-color: var(--line); background: var(--bg); color: #9aa1ab; cursor: not-allowed; }
  .buttons { display: flex; gap: .4rem; flex-wrap: wrap; margin-bottom: .7rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .22rem .4rem; border-top: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
  th { color: var(--muted); font-weight: 500; width: 9.5rem; white-space: nowrap; }
  .chip { display: inline-block; padding: 0 .45rem; margin: 0 .25rem .15rem 0; border-radius: 1rem; background: #e8edfb; color: var(--accent); font-size: .85em; }
  .actions { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: .45rem .7rem; align-items: center; }
  .result { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .82rem; color: var(--muted); overflow-wrap: anywhere; }
  .result .ok { color: var(--ok); font-weight: 600; } .result .err { color: var(--err); font-weight: 600; }
  #device-box { margin-top: .8rem; border: 1px dashed var(--accent); border-radius: .5rem; padding: .7rem; display: flex; gap: .9rem; align-items: center; }
  #device-qr svg { width: 128px; height: 128px; display: block; }
  #device-code { font: 700 1.35rem ui-monospace, monospace; letter-spacing: .08em; }
  #timeline { list-style: none; margin: 0; padding: 0; max-height: 11.5rem; overflow: auto; }
  #timeline li { padding: .18rem 0; border-top: 1px solid var(--line); }
  #timeline time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .5rem; }
  details { margin-top: .7rem; } summary { cursor: pointer; color: var(--muted); }
  pre { background: var(--bg); padding: .5rem; border-radius: .4rem; max-height: 12rem; overflow: auto; margin: .4rem 0 0; font-size: .8rem; }
  .muted { color: var(--muted); }
  @media (max-width: 860px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <img alt="" src="data:image/svg+xml,${encodeURIComponent(DEMO_ICON)}">
  <div><h1>oidc-auth demo</h1><p>A Hono app protected by oidc-auth: log in at the identity provider, then call the protected routes with the token.</p></div>
</header>
<main>
  <section aria-labelledby="session-title">
    <h2 id="session-title">Session</h2>
    <p id="status">Not logged in.</p>
    <p id="how"></p>
    <div class="lifetime" id="lifetime" hidden>
      <span class="muted">Access token</span><div class="bar"><div id="lifetime-bar"></div></div><span id="expires"></span>
    </div>
    <div class="buttons">
      <button id="login">Log in</button>
      <button id="refresh" class="secondary">Refresh token</button>
      <button id="logout" class="secondary">Log out</button>
    </div>
    <div class="result" id="result-refresh" style="margin:-.3rem 0 .7rem"></div>
    <table id="claims"><tbody><tr><td class="muted">Log in to see the token's claims.</td></tr></tbody></table>
  </section>
  <section aria-labelledby="actions-title">
    <h2 id="actions-title">Try it</h2>
    <div class="actions">
      <button id="me" class="secondary">Call /api/me</button><div class="result" id="result-me">any logged-in user</div>
      <button id="admin" class="secondary">Call /api/admin</button><div class="result" id="result-admin">needs the role admin</div>
      <button id="device" class="secondary">Start device login</button><div class="result" id="result-device">log in on another device (a phone)</div>
    </div>
    <div id="device-box" hidden>
      <div id="device-qr" aria-label="QR code of the device login link"></div>
      <div>
        <div class="muted">Scan the code, or open the link, and approve:</div>
        <div id="device-code"></div>
        <a id="device-link" target="_blank" rel="noopener"></a>
        <div id="device-state" class="muted">Waiting for approval…</div>
      </div>
    </div>
    <p class="muted">The same login as a server-side session (an HttpOnly cookie, no token in the page, works without JavaScript): <a id="profile-link" href="/profile">/profile</a></p>
    <h2 style="margin-top:1rem">Timeline</h2>
    <ol id="timeline"><li class="muted" id="timeline-empty">Nothing yet.</li></ol>
    <details><summary>Last answer</summary><pre id="output">(none)</pre></details>
  </section>
</main>
<script type="module">
const api = "/api/auth/v2";
const $ = (id) => document.getElementById(id);
const store = {
  get: (key, fallback) => JSON.parse(sessionStorage.getItem(key) || "null") ?? fallback,
  set: (key, value) => sessionStorage.setItem(key, JSON.stringify(value)),
  drop: (key) => sessionStorage.removeItem(key),
};
const tokens = () => store.get("tokens", null);
let devicePending = false;
let identity = null;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}
const clock = (date = new Date()) => date.toLocaleTimeString([], { hour12: false });
const tail = (token) => "…" + String(token).slice(-6);

/** A line of the timeline, kept in sessionStorage (it survives the login and logout redirects). */
function event(text) {
  const events = store.get("events", []);
  events.push({ at: Date.now(), text });
  store.set("events", events.slice(-30));
  renderTimeline();
}
function renderTimeline() {
  const list = $("timeline");
  const events = store.get("events", []);
  if (events.length === 0) return;
  list.replaceChildren(...events.slice().reverse().map((e) => {
    const li = el("li");
    li.append(el("time", clock(new Date(e.at))), e.text);
    return li;
  }));
}

/** Shows an answer beside its button: method, path, status, and what it means. */
function result(id, method, path, response, note) {
  const box = $(id);
  const status = el("span", response.status + " " + (response.statusText || ""), response.ok ? "ok" : "err");
  box.replaceChildren(method + " " + path + " → ", status, note ? " · " + note : "");
}

async function call(path, init = {}) {
  const t = tokens();
  const headers = new Headers(init.headers || {});
  if (t && !init.anonymous) headers.set("Authorization", "Bearer " + t.access_token);
  const response = await fetch(path, { ...init, headers });
  const body = await response.json().catch(() => ({}));
  $("output").textContent = (init.method || "GET") + " " + path + " → " + response.status + "\\n" + JSON.stringify(body, null, 2);
  return { response, body };
}

function renderClaims(me) {
  const rows = [
    ["sub", me.sub],
    ["preferred_username", me.preferred_username],
    ["email", me.email],
    ["roles (flattened)", me.roles || []],
    ["scope", me.scope],
    ["iss", me.claims && me.claims.iss],
    ["aud", me.claims && me.claims.aud],
    ["issued / expires", me.claims ? clock(new Date(me.claims.iat * 1000)) + " / " + clock(new Date(me.claims.exp * 1000)) : ""],
  ];
  const body = el("tbody");
  for (const [name, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    const tr = el("tr");
    const td = el("td");
    if (Array.isArray(value)) td.append(...value.map((v) => el("span", String(v), "chip")));
    else td.textContent = String(value);
    tr.append(el("th", name), td);
    body.append(tr);
  }
  $("claims").replaceChildren(body);
}

function render() {
  const t = tokens();
  const loggedIn = Boolean(t && identity);
  $("status").textContent = loggedIn ? "Logged in as " + identity + "." : t ? "Checking the token…" : "Not logged in.";
  const how = store.get("how", null);
  $("how").textContent = loggedIn && how ? "via " + how.via + (how.refreshed ? " · refreshed " + how.refreshed + "×, last at " + clock(new Date(how.refreshedAt)) : "") : "";
  $("login").disabled = Boolean(t);
  $("logout").disabled = !t;
  $("refresh").disabled = !(t && t.refresh_token);
  $("me").disabled = !t;
  $("admin").disabled = !t;
  $("device").disabled = devicePending;
  $("lifetime").hidden = !t;
  if (!t) {
    const row = el("tr");
    row.append(el("td", "Log in to see the token's claims.", "muted"));
    const body = el("tbody");
    body.append(row);
    $("claims").replaceChildren(body);
  }
  tick();
}

/** The access token's remaining lifetime, every second. */
function tick() {
  const t = tokens();
  if (!t) return;
  const expires = t.expires || 0;
  const left = Math.max(0, expires - Math.floor(Date.now() / 1000));
  const total = Math.max(1, t.expires_in || 1);
  $("expires").textContent = left > 0 ? "expires in " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : "expired";
  $("lifetime-bar").style.width = Math.min(100, (left / total) * 100) + "%";
  $("lifetime-bar").style.background = left > 60 ? "var(--ok)" : "var(--err)";
}
setInterval(tick, 1000);

async function loadIdentity() {
  if (!tokens()) { identity = null; return render(); }
  const { response, body } = await call("/api/me");
  if (response.ok) {
    identity = body.preferred_username || body.sub;
    renderClaims(body);
  } else {
    identity = null;
    $("status").textContent = "The token was refused (" + response.status + ").";
  }
  render();
}

async function loggedIn(answer, via) {
  if (!answer.expires && answer.expires_in) answer.expires = Math.floor(Date.now() / 1000) + answer.expires_in;
  store.set("tokens", answer);
  store.set("how", { via });
  await loadIdentity();
  event("Logged in as " + (identity || "?") + " (" + via + "), access token " + tail(answer.access_token));
}

$("login").onclick = () => {
  location.assign(api + "/login?redirect_uri=" + encodeURIComponent(location.origin + "/callback"));
};
$("me").onclick = async () => {
  const { response, body } = await call("/api/me");
  result("result-me", "GET", "/api/me", response, response.ok ? "hello " + (body.preferred_username || body.sub) : body.error);
};
$("admin").onclick = async () => {
  const { response, body } = await call("/api/admin");
  result("result-admin", "GET", "/api/admin", response, response.ok ? body.message : body.error + ": " + body.error_description);
  if (!response.ok) event("/api/admin refused " + (identity || "") + " (" + response.status + " " + body.error + ")");
};
$("refresh").onclick = async () => {
  const t = tokens();
  const { response, body } = await call(api + "/token", {
    method: "POST",
    anonymous: true,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ "refresh-token": t.refresh_token }),
  });
  result("result-refresh", "POST", api + "/token", response, response.ok ? "refresh: new access token " + tail(body.access_token) : body.error);
  if (!response.ok) return event("Refresh refused (" + body.error + ")");
  if (!body.expires && body.expires_in) body.expires = Math.floor(Date.now() / 1000) + body.expires_in;
  store.set("tokens", body);
  const how = store.get("how", { via: "browser login" });
  store.set("how", { ...how, refreshed: (how.refreshed || 0) + 1, refreshedAt: Date.now() });
  event("Refreshed: new access token " + tail(body.access_token) + " (was " + tail(t.access_token) + ")");
  await loadIdentity();
};

async function drawQr(link) {
  const box = $("device-qr");
  box.replaceChildren();
  try {
    const { default: encodeQR } = await import("/demo/qr.js");
    const modules = encodeQR(link, "raw", { ecc: "medium", border: 2 });
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + modules.length + " " + modules.length);
    svg.setAttribute("shape-rendering", "crispEdges");
    const bg = document.createElementNS(ns, "rect");
    bg.setAttribute("width", "100%"); bg.setAttribute("height", "100%"); bg.setAttribute("fill", "#fff");
    let d = "";
    modules.forEach((row, y) => row.forEach((on, x) => { if (on) d += "M" + x + " " + y + "h1v1h-1z"; }));
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(bg, path);
    box.append(svg);
  } catch {
    box.hidden = true; // no encoder on this server (edge runtime): the link alone
  }
}

$("device").onclick = async () => {
  const { response, body } = await call(api + "/device", { method: "POST", anonymous: true });
  result("result-device", "POST", api + "/device", response, response.ok ? "code " + body.user_code : body.error);
  if (!response.ok) return;
  devicePending = true;
  render();
  const link = body.verification_uri_complete || body.verification_uri;
  $("device-box").hidden = false;
  $("device-link").href = link;
  $("device-link").textContent = link;
  $("device-code").textContent = body.user_code;
  $("device-state").textContent = body.verification_uri_complete
    ? "The link carries the code. Waiting for approval…"
    : "Enter the code there. Waiting for approval…";
  event("Device login started: code " + body.user_code);
  await drawQr(link);
  let interval = (body.interval || 5) * 1000;
  const poll = async () => {
    const r = await fetch(api + "/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ "device-code": body.device_code }),
    });
    const answer = await r.json().catch(() => ({}));
    if (answer.error === "slow_down") interval += 5000;
    if (answer.error === "authorization_pending" || answer.error === "slow_down") return setTimeout(poll, interval);
    devicePending = false;
    result("result-device", "POST", api + "/token", r, r.ok ? "device approved" : answer.error);
    if (r.ok) {
      $("device-state").textContent = "Approved.";
      event("Device login approved");
      await loggedIn(answer, "device login");
      $("device-box").hidden = true;
    } else {
      $("device-state").textContent = "Ended: " + answer.error + ".";
      event("Device login ended (" + answer.error + ")");
      render();
    }
  };
  setTimeout(poll, interval);
};

$("logout").onclick = async () => {
  const t = tokens();
  store.drop("tokens");
  store.drop("how");
  event("Logged out" + (identity ? " (" + identity + ")" : ""));
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

renderTimeline();
render();
const params = new URLSearchParams(location.search);
if (location.pathname === "/callback" && (params.has("code") || params.has("error"))) {
  const r = await fetch(api + "/callback" + location.search);
  const answer = await r.json().catch(() => ({}));
  history.replaceState(null, "", "/");
  if (r.ok) await loggedIn(answer, "browser login");
  else {
    $("status").textContent = "Login failed.";
    $("output").textContent = JSON.stringify({ status: r.status, body: answer }, null, 2);
    event("Login failed (" + (answer.error || r.status) + ")");
  }
} else {
  await loadIdentity();
}
</script>
</body>
</html>`;
}
