// Drives the IdP's real HTML pages with fetch, like a minimal browser: a cookie jar, manual
// redirects, and form submission. Used by completeLogin / approveDevice / completeLogout /
// endIdpSession.

const MAX_HOPS = 25;

/** A single-origin cookie jar. Cookie paths are ignored (every cookie is sent on every request). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = value === "";
      for (const attribute of attributes) {
        const [rawKey = "", ...rest] = attribute.split("=");
        const key = rawKey.trim().toLowerCase();
        const attrValue = rest.join("=").trim();
        if (key === "max-age" && Number(attrValue) <= 0) expired = true;
        if (key === "expires" && Date.parse(attrValue) <= Date.now()) expired = true;
      }
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string | undefined {
    if (this.#cookies.size === 0) return undefined;
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }
}

export interface HtmlForm {
  id?: string;
  /** data-dev-idp marker, if any */
  marker?: string;
  action: URL;
  method: "GET" | "POST";
  /** name/value pairs of the form's <input> elements (in document order) */
  fields: [string, string][];
}

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (_m, entity: string) => {
    const e = entity.toLowerCase();
    if (e === "amp") return "&";
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "quot") return '"';
    if (e === "apos" || e === "#39") return "'";
    if (e.startsWith("#x")) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    return String.fromCodePoint(Number.parseInt(e.slice(1), 10));
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/=`]+)))?/g;
  // skip the tag name
  const body = tag.replace(/^<\s*[a-zA-Z]+/, "").replace(/\/?>$/, "");
  for (const match of body.matchAll(re)) {
    const name = match[1];
    if (!name) continue;
    out[name.toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? "");
  }
  return out;
}

/** Extracts the forms of an HTML page (enough for the IdP's own simple markup). */
export function parseForms(html: string, baseUrl: URL): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/(<form\b[^>]*>)([\s\S]*?)<\/form>/gi)) {
    const [, openTag = "", inner = ""] = match;
    const attrs = attributes(openTag);
    const fields: [string, string][] = [];
    for (const input of inner.matchAll(/<input\b[^>]*>/gi)) {
      const a = attributes(input[0]);
      if (!a.name) continue;
      const type = (a.type ?? "text").toLowerCase();
      if ((type === "checkbox" || type === "radio") && !("checked" in a)) continue;
      if (type === "submit" || type === "button" || type === "image") continue;
      fields.push([a.name, a.value ?? ""]);
    }
    forms.push({
      id: attrs.id,
      marker: attrs["data-dev-idp"],
      action: new URL(attrs.action ?? "", baseUrl),
      method: (attrs.method ?? "get").toUpperCase() === "POST" ? "POST" : "GET",
      fields,
    });
  }
  return forms;
}

/** A short human-readable description of an IdP error page, for exception messages. */
export function describePage(html: string): string {
  const fields = [
    ...html.matchAll(/data-dev-idp-field="([^"]*)"><strong>[^<]*<\/strong>: ([^<]*)</g),
  ]
    .map((m) => `${decodeEntities(m[1] ?? "")}=${decodeEntities(m[2] ?? "")}`)
    .join(", ");
  if (fields) return fields;
  const error = /data-dev-idp-error="[^"]*">([^<]*)</.exec(html);
  if (error?.[1]) return decodeEntities(error[1]);
  const title = /<title>([^<]*)<\/title>/i.exec(html);
  const text = html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return `${title?.[1] ? `${decodeEntities(title[1])}: ` : ""}${decodeEntities(text).slice(0, 300)}`;
}

export interface Step {
  url: URL;
  status: number;
  /** set for 3xx responses */
  location?: URL;
  /** body text for non-redirect responses */
  html: string;
  forms: HtmlForm[];
}

/**
 * The user's browser as the IdP sees it: the cookies it holds for the IdP. Helpers given the same
 * IdpBrowser act as one user agent — log in, then log in again without a password (single sign-on),
 * then end that session at the IdP. Create one with `DevIdp.newBrowser()` or `createIdpBrowser()`.
 */
export interface IdpBrowser {
  /** The IdP's origin, e.g. "http://127.0.0.1:43123"; the browser talks to nothing else. */
  readonly origin: string;
  /** The Cookie header it sends to the IdP; undefined while it holds no cookies. */
  cookieHeader(): string | undefined;
}

/** A minimal cookie-keeping browser restricted to requests to one origin. */
export class MiniBrowser implements IdpBrowser {
  readonly jar = new CookieJar();

  constructor(readonly origin: string) {}

  cookieHeader(): string | undefined {
    return this.jar.header();
  }

  async request(
    url: URL,
    method: "GET" | "POST" = "GET",
    form?: [string, string][] | URLSearchParams,
  ): Promise<Step> {
    if (url.origin !== this.origin) {
      throw new Error(`dev-idp: refusing to drive ${url.href}, which is not on ${this.origin}`);
    }
    const headers: Record<string, string> = { accept: "text/html" };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    let body: URLSearchParams | undefined;
    let target = url;
    if (form) {
      const params = form instanceof URLSearchParams ? form : new URLSearchParams(form);
      if (method === "POST") {
        body = params;
        headers["content-type"] = "application/x-www-form-urlencoded";
      } else {
        target = new URL(url);
        target.search = params.toString();
      }
    }
    const response = await fetch(target, { method, headers, body, redirect: "manual" });
    this.jar.store(response);
    const locationHeader = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && locationHeader) {
      await response.body?.cancel();
      return {
        url: target,
        status: response.status,
        location: new URL(locationHeader, target),
        html: "",
        forms: [],
      };
    }
    const html = await response.text();
    return { url: target, status: response.status, html, forms: parseForms(html, target) };
  }

  /**
   * Follows redirects (303 and friends become GET) while they stay on the IdP origin. Returns the
   * first non-redirect step, or the redirect step whose location leaves the origin.
   */
  async follow(
    url: URL,
    method: "GET" | "POST" = "GET",
    form?: [string, string][] | URLSearchParams,
  ): Promise<Step> {
    let step = await this.request(url, method, form);
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      if (!step.location || step.location.origin !== this.origin) return step;
      const keepMethod = step.status === 307 || step.status === 308;
      step = await this.request(
        step.location,
        keepMethod ? method : "GET",
        keepMethod ? form : undefined,
      );
    }
    throw new Error(`dev-idp: too many redirects starting at ${url.href}`);
  }
}

/** A new IdpBrowser (no cookies) for the dev IdP at issuer. */
export function createIdpBrowser(issuer: string): IdpBrowser {
  return new MiniBrowser(new URL(issuer).origin);
}

/** The given browser (checked to be one of ours, for this IdP), or a fresh one. */
function browserFor(issuer: string, helper: string, given: IdpBrowser | undefined): MiniBrowser {
  const origin = new URL(issuer).origin;
  if (given === undefined) return new MiniBrowser(origin);
  if (!(given instanceof MiniBrowser)) {
    throw new TypeError(`dev-idp ${helper}: pass a browser from newBrowser() / createIdpBrowser()`);
  }
  if (given.origin !== origin) {
    throw new Error(`dev-idp ${helper}: the browser belongs to ${given.origin}, not ${origin}`);
  }
  return given;
}

function isOutbound(form: HtmlForm, origin: string): boolean {
  return form.action.origin !== origin;
}

/** Builds the RP callback URL from a response_mode=form_post auto-submit form. */
function formPostToUrl(form: HtmlForm): URL {
  const url = new URL(form.action);
  for (const [name, value] of form.fields) url.searchParams.append(name, value);
  return url;
}

/**
 * Runs an authorization request to its end: logs in through the login form (once) and returns the
 * URL the IdP finally sends the user agent to outside the IdP (the RP's redirect_uri), unrequested.
 * With a browser that already has a session at the IdP, no login form comes (single sign-on) and
 * username/password are not used. Without a browser, a fresh one is used and then dropped.
 */
export async function driveAuthorization(
  issuer: string,
  authorizationUrl: string,
  username: string,
  password: string,
  idpBrowser?: IdpBrowser,
): Promise<URL> {
  const origin = new URL(issuer).origin;
  const start = new URL(authorizationUrl);
  if (start.origin !== origin) {
    throw new Error(`dev-idp completeLogin: ${start.href} is not an URL of this IdP (${issuer})`);
  }
  const browser = browserFor(issuer, "completeLogin", idpBrowser);
  let step = await browser.follow(start);
  let loggedIn = false;
  for (let round = 0; round < MAX_HOPS; round++) {
    if (step.location) return step.location; // left the IdP: the RP's redirect_uri
    const login = step.forms.find((f) => f.marker === "login");
    if (login) {
      if (loggedIn) {
        throw new Error(
          `dev-idp completeLogin: login as "${username}" failed: ${describePage(step.html)}`,
        );
      }
      loggedIn = true;
      const fields = login.fields.filter(([name]) => name !== "username" && name !== "password");
      fields.push(["username", username], ["password", password]);
      step = await browser.follow(login.action, login.method, fields);
      continue;
    }
    const outbound = step.forms.find((f) => isOutbound(f, origin));
    if (outbound && step.status < 400) return formPostToUrl(outbound);
    throw new Error(
      `dev-idp completeLogin: unexpected ${step.status} page at ${step.url.pathname}: ${describePage(step.html)}`,
    );
  }
  throw new Error("dev-idp completeLogin: too many steps");
}

/** Enters the user code on /device, then confirms (logging in) or denies. */
export async function driveDeviceApproval(
  issuer: string,
  verificationPath: string,
  userCode: string,
  username: string,
  password: string,
  deny: boolean,
): Promise<void> {
  const origin = new URL(issuer).origin;
  const browser = new MiniBrowser(origin);
  const page = await browser.follow(new URL(verificationPath, issuer));
  const input = page.forms.find((f) => f.id === "op.deviceInputForm");
  if (!input) {
    throw new Error(
      `dev-idp approveDevice: no user code form at ${page.url.pathname}: ${describePage(page.html)}`,
    );
  }
  const inputFields = input.fields.filter(([name]) => name !== "user_code");
  inputFields.push(["user_code", userCode]);
  const confirmPage = await browser.follow(input.action, input.method, inputFields);
  const confirm = confirmPage.forms.find((f) => f.id === "op.deviceConfirmForm");
  if (!confirm) {
    throw new Error(
      `dev-idp approveDevice: user code "${userCode}" was not accepted: ${describePage(confirmPage.html)}`,
    );
  }
  if (deny) {
    const denied = await browser.follow(confirm.action, confirm.method, [
      ...confirm.fields,
      ["abort", "yes"],
    ]);
    if (!denied.html.includes('data-dev-idp-aborted="true"')) {
      throw new Error(`dev-idp approveDevice: denying failed: ${describePage(denied.html)}`);
    }
    return;
  }
  let step = await browser.follow(confirm.action, confirm.method, confirm.fields);
  let loggedIn = false;
  for (let round = 0; round < MAX_HOPS; round++) {
    if (step.html.includes('data-dev-idp="device-success"')) return;
    const login = step.forms.find((f) => f.marker === "login");
    if (login && !step.location) {
      if (loggedIn) {
        throw new Error(
          `dev-idp approveDevice: login as "${username}" failed: ${describePage(step.html)}`,
        );
      }
      loggedIn = true;
      const fields = login.fields.filter(([name]) => name !== "username" && name !== "password");
      fields.push(["username", username], ["password", password]);
      step = await browser.follow(login.action, login.method, fields);
      continue;
    }
    throw new Error(
      `dev-idp approveDevice: unexpected ${step.status} page at ${step.url.pathname}: ${
        step.location ? `redirect to ${step.location.href}` : describePage(step.html)
      }`,
    );
  }
  throw new Error("dev-idp approveDevice: too many steps");
}

/**
 * Runs an RP-initiated logout request (end_session URL) through its confirmation form and returns
 * where the IdP sends the user agent (post_logout_redirect_uri, or the IdP's own "signed out" page).
 * With the browser of a login, this ends that session at the IdP (and sends back-channel logouts).
 */
export async function driveLogout(
  issuer: string,
  endSessionUrl: string,
  idpBrowser?: IdpBrowser,
): Promise<URL> {
  const origin = new URL(issuer).origin;
  const start = new URL(endSessionUrl);
  const browser = browserFor(issuer, "completeLogout", idpBrowser);
  const page = await browser.follow(start);
  if (page.location) return page.location;
  const form = page.forms.find((f) => !isOutbound(f, origin) && f.method === "POST");
  if (!form || page.status >= 400) {
    throw new Error(
      `dev-idp completeLogout: unexpected ${page.status} page: ${describePage(page.html)}`,
    );
  }
  const fields = form.fields.filter(([name]) => name !== "logout");
  fields.push(["logout", "yes"]);
  const done = await browser.follow(form.action, form.method, fields);
  if (done.location) return done.location;
  if (done.status >= 400) {
    throw new Error(
      `dev-idp completeLogout: unexpected ${done.status} page: ${describePage(done.html)}`,
    );
  }
  return done.url;
}

/** oidc-provider's end_session endpoint (its default route, which the dev IdP keeps). */
export const END_SESSION_PATH = "/session/end";

/**
 * Ends the browser's session at the IdP the way a user does who signs out at the IdP itself, not
 * through an application: opens the end_session endpoint without id_token_hint or client_id and
 * submits its confirmation (logout=yes, which ends the whole IdP session). oidc-provider answers the
 * confirmation only after it has POSTed the back-channel logout tokens to every client of the
 * session that registered a URI (and each POST was answered or timed out), so they have arrived
 * when this resolves. Returns the URL of the IdP's "signed out" page. Throws when the browser has
 * no session at the IdP.
 */
export async function driveIdpSessionEnd(issuer: string, idpBrowser: IdpBrowser): Promise<URL> {
  const browser = browserFor(issuer, "endIdpSession", idpBrowser);
  const page = await browser.follow(new URL(END_SESSION_PATH, browser.origin));
  // oidc-provider renders the confirmation (logoutSource) only for a signed-in session; without one
  // it auto-posts a form of its own.
  const form = page.forms.find((f) => f.id === "op.logoutForm");
  if (page.location || page.status >= 400 || !form) {
    const what = page.location
      ? `a redirect to ${page.location.href}`
      : page.status >= 400
        ? `a ${page.status} page: ${describePage(page.html)}`
        : "no sign-out confirmation: the browser has no session at the IdP (log in with it first)";
    throw new Error(`dev-idp endIdpSession: ${what}`);
  }
  const fields = form.fields.filter(([name]) => name !== "logout");
  fields.push(["logout", "yes"]);
  const done = await browser.follow(form.action, form.method, fields);
  if (done.location || !done.html.includes('data-dev-idp="logout-success"')) {
    throw new Error(
      `dev-idp endIdpSession: unexpected ${done.status} ${
        done.location ? `redirect to ${done.location.href}` : `page: ${describePage(done.html)}`
      }`,
    );
  }
  return done.url;
}
