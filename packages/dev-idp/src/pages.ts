// Plain server-rendered HTML for the dev IdP's pages (no external assets, no JavaScript except the
// auto-submit of the logout confirmation).

export function escapeHtml(value: unknown): string {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;margin:0;padding:40px 16px;color:#111827}
main{max-width:380px;margin:0 auto;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15);padding:24px 28px}
h1{font-size:1.4rem;margin:0 0 4px}
.sub{color:#6b7280;margin:0 0 20px;font-size:.9rem}
label{display:block;font-size:.85rem;font-weight:600;margin:12px 0 4px}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:9px 10px;border:1px solid #d1d5db;border-radius:6px;font-size:1rem}
button{margin-top:18px;width:100%;padding:10px;border:0;border-radius:6px;background:#2563eb;color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
button.secondary{background:transparent;color:#4b5563;margin-top:8px;font-weight:400}
.error{background:#fee2e2;color:#991b1b;padding:8px 10px;border-radius:6px;font-size:.9rem}
.hint{margin-top:20px;font-size:.8rem;color:#6b7280}
.hint code{background:#f3f4f6;padding:1px 4px;border-radius:3px}
code.user-code{font-size:1.6rem;letter-spacing:.15em;display:block;text-align:center;margin:12px 0}
pre{white-space:pre-wrap;word-break:break-word}
`;

export function layout(title: string, body: string, head = ""): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · dev IdP</title>
<style>${STYLE}</style>
${head}
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export interface LoginPageInput {
  uid: string;
  clientName: string;
  scope?: string;
  username?: string;
  error?: string;
  /** Demo credentials shown as a hint (dev only). */
  hints: { username: string; password: string }[];
}

/** The interaction login form. Marked with data-dev-idp="login" for the automation helpers. */
export function loginPage(input: LoginPageInput): string {
  const base = `/interaction/${encodeURIComponent(input.uid)}`;
  const hints = input.hints.length
    ? `<p class="hint">Demo users: ${input.hints
        .map(
          (h) => `<code>${escapeHtml(h.username)}</code> / <code>${escapeHtml(h.password)}</code>`,
        )
        .join(", ")}</p>`
    : "";
  return layout(
    "Sign in",
    `<h1>Sign in</h1>
<p class="sub">to <strong>${escapeHtml(input.clientName)}</strong>${
      input.scope ? ` &middot; scope: ${escapeHtml(input.scope)}` : ""
    }</p>
${input.error ? `<p class="error" role="alert" data-dev-idp-error="login">${escapeHtml(input.error)}</p>` : ""}
<form id="dev-idp-login" data-dev-idp="login" method="post" action="${base}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" type="text" name="username" value="${escapeHtml(input.username ?? "")}" required autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="password" value="" required>
<button type="submit">Sign in</button>
</form>
<form id="dev-idp-abort" data-dev-idp="abort" method="post" action="${base}/abort">
<button type="submit" class="secondary">Cancel</button>
</form>
${hints}`,
  );
}

export function errorPage(title: string, fields: Record<string, string | undefined>): string {
  const rows = Object.entries(fields)
    .filter((entry): entry is [string, string] => typeof entry[1] === "string")
    .map(
      ([key, value]) =>
        `<pre data-dev-idp-field="${escapeHtml(key)}"><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</pre>`,
    )
    .join("\n");
  return layout(title, `<h1 data-dev-idp="error">${escapeHtml(title)}</h1>\n${rows}`);
}

export function deviceInputPage(form: string, message: string, isError: boolean): string {
  return layout(
    "Device sign-in",
    `<h1>Device sign-in</h1>
<p class="${isError ? "error" : "sub"}" ${isError ? 'data-dev-idp-error="device"' : ""}>${escapeHtml(message)}</p>
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export function deviceConfirmPage(form: string, clientName: string, userCode: string): string {
  return layout(
    "Confirm device",
    `<h1>Confirm device</h1>
<p class="sub"><strong>${escapeHtml(clientName)}</strong> is asking for access. Check that your device shows this code:</p>
<code class="user-code">${escapeHtml(userCode)}</code>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">Deny</button>`,
  );
}

export function deviceSuccessPage(clientName: string): string {
  return layout(
    "Device signed in",
    `<h1 data-dev-idp="device-success">Sign-in successful</h1>
<p class="sub">You signed in to <strong>${escapeHtml(clientName)}</strong>; you can close this page and return to your device.</p>`,
  );
}

/**
 * RP-initiated logout confirmation: oidc-provider's form (id="op.logoutForm", with the xsrf token)
 * plus logout=yes, submitted automatically by the browser.
 */
export function logoutPage(form: string, host: string): string {
  const withLogout = form.replace(
    "</form>",
    '<input type="hidden" name="logout" value="yes"/><noscript><button type="submit">Sign out</button></noscript></form>',
  );
  return layout(
    "Signing out",
    `<h1>Signing out of ${escapeHtml(host)}</h1>
<p class="sub">One moment&hellip;</p>
${withLogout}`,
    `<script>document.addEventListener("DOMContentLoaded",function(){document.forms[0].submit()})</script>`,
  );
}

export function logoutSuccessPage(clientName: string | undefined): string {
  return layout(
    "Signed out",
    `<h1 data-dev-idp="logout-success">Signed out</h1>
<p class="sub">You are signed out${clientName ? ` of ${escapeHtml(clientName)}` : ""}.</p>`,
  );
}
