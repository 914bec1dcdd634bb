import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { Handle, RequestEvent, RequestHandler } from "@sveltejs/kit";
import { isHttpError, isRedirect, json } from "@sveltejs/kit";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { AdapterFixture } from "../../../test-support/adapter-fixture.js";
import { startAdapterFixture } from "../../../test-support/adapter-fixture.js";
import { expectJsonError } from "../../../test-support/assertions.js";
import type { HandleOptions, IDToken, OIDCAuthLocals, OIDCAuthOptions } from "../src/index.js";
import { SvelteKitOIDCAuth } from "../src/index.js";

const ORIGIN = "http://127.0.0.1:5173";
const REDIRECT_URI = `${ORIGIN}/callback`;

let idp: DevIdp;
let alice: string;
let bob: string;

let fixture: AdapterFixture;
const options = (extra?: OIDCAuthOptions) => fixture.options(extra);

/** The parts of a RequestEvent the adapter reads: the request, url, isDataRequest and locals. */
function requestEvent(path: string, init: RequestInit = {}): RequestEvent {
  const request = new Request(new URL(path, ORIGIN), init);
  return {
    request,
    url: new URL(request.url),
    isDataRequest: false,
    locals: {},
  } as unknown as RequestEvent;
}

function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  };
}

/** Runs a hook the way SvelteKit does; reports whether the app behind it was reached. */
async function runHook(handle: Handle, event: RequestEvent) {
  let resolved = false;
  const response = await handle({
    event,
    resolve: (e) => {
      resolved = true;
      return json({ app: new URL(e.request.url).pathname });
    },
  });
  const locals = event.locals as OIDCAuthLocals;
  return { response, resolved, token: locals.token, session: locals.session };
}

beforeAll(async () => {
  fixture = await startAdapterFixture(REDIRECT_URI);
  ({ idp, alice, bob } = fixture);
});

afterAll(async () => {
  await idp?.stop();
});

describe("handle(): the auth endpoints", () => {
  let auth: SvelteKitOIDCAuth;
  let handle: Handle;

  beforeAll(() => {
    auth = new SvelteKitOIDCAuth(options());
    handle = auth.handle({ prefix: "/api" });
  });

  it("serves login under the prefix without reaching the app", async () => {
    const query = new URLSearchParams({ redirect_uri: REDIRECT_URI });
    const { response, resolved } = await runHook(
      handle,
      requestEvent(`/api/auth/v2/login?${query}`),
    );
    expect(resolved).toBe(false);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") as string);
    expect(location.origin).toBe(idp.issuer);
    expect(location.searchParams.get("redirect_uri")).toBe(REDIRECT_URI);
    expect(response.headers.get("set-cookie")).toMatch(/^oidc_auth_tx=/);
  });

  it("completes a code + PKCE login through the callback", async () => {
    const query = new URLSearchParams({ redirect_uri: REDIRECT_URI });
    const login = await runHook(handle, requestEvent(`/api/auth/v2/login?${query}`));
    const cookie = (login.response.headers.get("set-cookie") as string).split(";")[0] as string;
    const location = login.response.headers.get("location") as string;
    const redirect = await idp.completeLogin(location, "alice", "alice-password");
    const callback = await runHook(
      handle,
      requestEvent(`/api/auth/v2/callback${redirect.search}`, { headers: { cookie } }),
    );
    expect(callback.response.status).toBe(200);
    const tokens = (await callback.response.json()) as { access_token: string; token_type: string };
    expect(tokens.token_type).toBe("Bearer");
    const me = await auth.authenticate(new Request(ORIGIN, bearer(tokens.access_token)));
    expect(me.preferred_username).toBe("alice");
  });

  it("serves form posts to the token endpoint without an Origin, and from other origins", async () => {
    const originHeaders: Record<string, string>[] = [{}, { origin: "https://elsewhere.example" }];
    for (const headers of originHeaders) {
      const { response, resolved } = await runHook(
        handle,
        requestEvent("/api/auth/v2/token", form({ "refresh-token": "not-a-credential" }, headers)),
      );
      expect(resolved).toBe(false);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = (await response.json()) as { error: string };
      expect(response.status).toBe(400);
      expect(body.error).toMatch(/^invalid_/);
    }
  });

  it("serves bearer-protected userinfo and answers 405 for a wrong method", async () => {
    const userinfo = await runHook(handle, requestEvent("/api/auth/v2/userinfo", bearer(bob)));
    expect(userinfo.response.status).toBe(200);
    expect(await userinfo.response.json()).toMatchObject({ username: "bob" });
    const wrong = await runHook(handle, requestEvent("/api/auth/v2/token"));
    expect(wrong.resolved).toBe(false);
    await expectJsonError(wrong.response, 405, "invalid_request");
  });

  it("leaves other paths under the prefix, and endpoints outside it, to the app", async () => {
    for (const path of ["/api/public", "/auth/v2/login", "/other/auth/v2/login", "/api/auth/v2"]) {
      const { response, resolved } = await runHook(handle, requestEvent(path));
      expect(resolved).toBe(true);
      expect(await response.json()).toEqual({ app: path });
    }
  });

  it("serves endpoints at the root when there is no prefix", async () => {
    const { response, resolved } = await runHook(
      auth.handle(),
      requestEvent("/auth/v2/userinfo", bearer(alice)),
    );
    expect(resolved).toBe(false);
    expect(await response.json()).toMatchObject({ username: "alice" });
  });
});

describe("handle(): locals.token", () => {
  let handle: Handle;

  beforeAll(() => {
    handle = new SvelteKitOIDCAuth(options()).handle({ prefix: "/api" });
  });

  it("sets the verified token for a valid bearer token", async () => {
    const { resolved, token } = await runHook(handle, requestEvent("/api/hello", bearer(alice)));
    expect(resolved).toBe(true);
    expect(token?.sub).toBe("u-alice");
    expect(token?.roles).toContain("admin");
  });

  it("sets null for a missing, malformed, expired or non-Bearer credential", async () => {
    const expired = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: "u-alice",
      iat: 1,
      exp: 2,
    });
    const inits: RequestInit[] = [
      {},
      bearer("not-a-jwt"),
      bearer(`${alice}x`),
      bearer(expired),
      { headers: { authorization: `Basic ${btoa("alice:alice-password")}` } },
    ];
    for (const init of inits) {
      const { resolved, token } = await runHook(handle, requestEvent("/api/hello", init));
      expect(resolved).toBe(true);
      expect(token).toBeNull();
    }
  });
});

describe("handle(): cross-site form submissions to the app", () => {
  const post = (headers: Record<string, string>) =>
    requestEvent("/profile?/save", form({ name: "x" }, headers));

  it("refuses them like SvelteKit (403), with or without an Origin", async () => {
    const handle = new SvelteKitOIDCAuth(options()).handle({ prefix: "/api" });
    const originHeaders: Record<string, string>[] = [{}, { origin: "https://evil.example" }];
    for (const headers of originHeaders) {
      const { response, resolved } = await runHook(handle, post(headers));
      expect(resolved).toBe(false);
      expect(response.status).toBe(403);
      expect(await response.text()).toBe("Cross-site POST form submissions are forbidden");
    }
    const asJson = await runHook(handle, post({ accept: "application/json" }));
    expect(asJson.response.status).toBe(403);
    expect(await asJson.response.json()).toEqual({
      message: "Cross-site POST form submissions are forbidden",
    });
  });

  it("lets same-origin forms, trusted origins, JSON and GET through", async () => {
    const options_: HandleOptions = {
      prefix: "/api",
      csrf: { trustedOrigins: ["https://pay.example"] },
    };
    const handle = new SvelteKitOIDCAuth(options()).handle(options_);
    const events = [
      post({ origin: ORIGIN }),
      post({ origin: "https://pay.example" }),
      requestEvent("/api/items", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      }),
      requestEvent("/profile"),
    ];
    for (const event of events) expect((await runHook(handle, event)).resolved).toBe(true);
  });

  it("lets everything through with csrf: false or a trusted origin *", async () => {
    for (const csrf of [false, { trustedOrigins: ["*"] }] as const) {
      const handle = new SvelteKitOIDCAuth(options()).handle({ prefix: "/api", csrf });
      expect((await runHook(handle, post({ origin: "https://evil.example" }))).resolved).toBe(true);
      expect((await runHook(handle, post({}))).resolved).toBe(true);
    }
  });
});

describe("withAuth()", () => {
  let auth: SvelteKitOIDCAuth;
  let reached: string[];

  beforeAll(() => {
    auth = new SvelteKitOIDCAuth(options());
    reached = [];
  });

  const me = () =>
    auth.withAuth(({ locals }) => {
      expectTypeOf(locals.token).toEqualTypeOf<IDToken>();
      reached.push("me");
      return json({ sub: locals.token.sub, roles: locals.token.roles });
    });

  it("verifies the bearer token in the endpoint and hands the handler locals.token", async () => {
    const event = requestEvent("/api/me", bearer(alice));
    const response = await me()(event);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { sub: string; roles: string[] };
    expect(body.sub).toBe("u-alice");
    expect([...body.roles].sort()).toEqual(["/staff", "admin", "editor", "user"]);
    expect((event.locals as OIDCAuthLocals).token?.sub).toBe("u-alice");
  });

  it("answers 401 JSON with a Bearer challenge and never runs the handler", async () => {
    const before = reached.length;
    const missing = await me()(requestEvent("/api/me"));
    await expectJsonError(missing, 401, "invalid_token");
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
    const invalid = await me()(requestEvent("/api/me", bearer(`${alice}x`)));
    await expectJsonError(invalid, 401, "invalid_token");
    expect(invalid.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    expect(reached.length).toBe(before);
  });

  it("ignores a token the hook may have put in locals", async () => {
    const event = requestEvent("/api/me");
    (event.locals as OIDCAuthLocals).token = { sub: "forged" } as IDToken;
    await expectJsonError(await me()(event), 401, "invalid_token");
  });

  it("answers 403 insufficient_scope for a missing scope", async () => {
    const apiOnly = auth.withAuth(() => new Response("ok"), { scopes: "api" });
    const response = await apiOnly(requestEvent("/api/x", bearer(alice)));
    await expectJsonError(response, 403, "insufficient_scope");
    expect(response.headers.get("www-authenticate")).toMatch(/scope="api"/);
    const withApi = await idp.mintAccessToken("bob", { scope: "openid api" });
    expect((await apiOnly(requestEvent("/api/x", bearer(withApi)))).status).toBe(200);
  });

  it("answers 403 access_denied when a claim constraint fails", async () => {
    const admin = auth.withAuth(({ locals }) => new Response(locals.token.preferred_username), {
      claims: { roles: ["admin"] },
    });
    const refused = await admin(requestEvent("/api/admin", bearer(bob)));
    await expectJsonError(refused, 403, "access_denied");
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer /);
    const allowed = await admin(requestEvent("/api/admin", bearer(alice)));
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toBe("alice");
  });

  it("takes the route's own event type from a RequestHandler annotation", async () => {
    const item: RequestHandler<{ id: string }, "/items/[id]"> = auth.withAuth(
      ({ params, route, locals }) => {
        expectTypeOf(params.id).toEqualTypeOf<string>();
        expectTypeOf(route.id).toEqualTypeOf<"/items/[id]">();
        return json({ id: params.id, sub: locals.token.sub });
      },
    );
    const event = requestEvent("/items/7", bearer(bob));
    Object.assign(event, { params: { id: "7" }, route: { id: "/items/[id]" } });
    const response = await item(event as RequestEvent<{ id: string }, "/items/[id]">);
    expect(await response.json()).toEqual({ id: "7", sub: "u-bob" });
  });

  it("does not turn a failing handler into a 401", async () => {
    const failing = auth.withAuth(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new Error("handler failed");
    });
    await expect(failing(requestEvent("/api/x", bearer(alice)))).rejects.toThrow("handler failed");
  });
});

describe("requireAuth()", () => {
  let auth: SvelteKitOIDCAuth;

  beforeAll(() => {
    auth = new SvelteKitOIDCAuth(options());
  });

  async function httpErrorOf(promise: Promise<unknown>) {
    try {
      await promise;
    } catch (err) {
      if (isHttpError(err)) return err;
      throw err;
    }
    throw new Error("requireAuth did not throw");
  }

  it("answers the verified token", async () => {
    const token = await auth.requireAuth(requestEvent("/profile", bearer(alice)));
    expectTypeOf(token).toEqualTypeOf<IDToken>();
    expect(token.preferred_username).toBe("alice");
  });

  it("throws SvelteKit's HttpError 401 with the JSON error's fields", async () => {
    for (const event of [requestEvent("/profile"), requestEvent("/profile", bearer("x.y.z"))]) {
      const err = await httpErrorOf(auth.requireAuth(event));
      expect(err.status).toBe(401);
      expect(err.body).toEqual({
        message: expect.any(String),
        error: "invalid_token",
        error_description: expect.any(String),
      });
    }
  });

  it("throws 403 for a missing scope or a failed claim constraint", async () => {
    const scope = await httpErrorOf(
      auth.requireAuth(requestEvent("/profile", bearer(alice)), { scopes: "api" }),
    );
    expect(scope.status).toBe(403);
    expect(scope.body).toMatchObject({ error: "insufficient_scope" });
    const claims = await httpErrorOf(
      auth.requireAuth(requestEvent("/profile", bearer(bob)), { claims: { roles: ["admin"] } }),
    );
    expect(claims.status).toBe(403);
    expect(claims.body).toMatchObject({ error: "access_denied" });
  });
});

describe("the IdP down", () => {
  it("withAuth answers 503, requireAuth throws 503 and the hook sets null", async () => {
    const down = await startDevIdp();
    const token = await down.mintAccessToken("alice");
    await down.stop();
    const auth = new SvelteKitOIDCAuth(options({ discoveryUrl: down.discoveryUrl }));
    let reached = false;
    const guarded = auth.withAuth(() => {
      reached = true;
      return new Response("ok");
    });
    const response = await guarded(requestEvent("/api/me", bearer(token)));
    await expectJsonError(response, 503, "temporarily_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
    expect(reached).toBe(false);
    await expect(auth.requireAuth(requestEvent("/profile", bearer(token)))).rejects.toMatchObject({
      status: 503,
      body: { error: "temporarily_unavailable" },
    });
    const hook = await runHook(auth.handle({ prefix: "/api" }), requestEvent("/", bearer(token)));
    expect(hook.resolved).toBe(true);
    expect(hook.token).toBeNull();
  });
});

describe("browser sessions", () => {
  let auth: SvelteKitOIDCAuth;
  let handle: Handle;
  let cookie: string;

  /** A browser-session login through the hook: the Cookie header that carries the session. */
  async function sessionLogin(): Promise<string> {
    const login = await runHook(handle, requestEvent("/api/auth/v2/login?return_to=/profile"));
    expect(login.response.status).toBe(302);
    const tx = (login.response.headers.get("set-cookie") as string).split(";")[0] as string;
    const location = login.response.headers.get("location") as string;
    expect(new URL(location).searchParams.get("redirect_uri")).toBe(
      `${ORIGIN}/api/auth/v2/callback`,
    );
    const redirect = await idp.completeLogin(location, "alice", "alice-password");
    const callback = await runHook(
      handle,
      requestEvent(`/api/auth/v2/callback${redirect.search}`, { headers: { cookie: tx } }),
    );
    expect(callback.response.status).toBe(303);
    expect(callback.response.headers.get("location")).toBe("/profile");
    return callback.response.headers
      .getSetCookie()
      .map((value) => value.split(";")[0] as string)
      .filter((pair) => pair.startsWith("oidc_auth_session") && !pair.endsWith("="))
      .join("; ");
  }

  async function redirectOf(promise: Promise<unknown>) {
    try {
      await promise;
    } catch (err) {
      if (isRedirect(err)) return err;
      throw err;
    }
    throw new Error("requireAuth did not redirect");
  }

  const navigation = { headers: { "sec-fetch-mode": "navigate", accept: "text/html" } };

  beforeAll(async () => {
    auth = new SvelteKitOIDCAuth(options());
    handle = auth.handle({ prefix: "/api" });
    cookie = await sessionLogin();
    expect(cookie).toMatch(/^oidc_auth_session=/);
  });

  it("puts the session into locals.session and its user into locals.token", async () => {
    const { resolved, token, session } = await runHook(
      handle,
      requestEvent("/profile", { headers: { cookie } }),
    );
    expect(resolved).toBe(true);
    expect(session?.token.preferred_username).toBe("alice");
    expect(session?.csrfToken).toEqual(expect.any(String));
    expect(token?.sub).toBe("u-alice");
  });

  it("leaves locals empty for an unsafe request from another site", async () => {
    const { resolved, token, session } = await runHook(
      handle,
      requestEvent("/api/items", {
        method: "POST",
        headers: { cookie, origin: "https://evil.example", "content-type": "application/json" },
        body: "{}",
      }),
    );
    expect(resolved).toBe(true);
    expect(session).toBeNull();
    expect(token).toBeNull();
  });

  it("guards with the cookie unless a guard accepts bearer tokens only", async () => {
    const event = () => requestEvent("/profile", { headers: { cookie } });
    expect((await auth.requireAuth(event())).sub).toBe("u-alice");
    expect((await auth.requireAuth(event(), { accept: "session" })).sub).toBe("u-alice");
    const bearerOnly = auth.withAuth(() => new Response("ok"), { accept: "bearer" });
    await expectJsonError(await bearerOnly(event()), 401, "invalid_token");
    const sessionOnly = auth.withAuth(() => new Response("ok"), { accept: "session" });
    await expectJsonError(
      await sessionOnly(requestEvent("/x", bearer(alice))),
      401,
      "invalid_token",
    );
    expect((await sessionOnly(event())).status).toBe(200);
  });

  it("sends navigations without a session to the login under the hook's prefix, and back", async () => {
    const page = await redirectOf(auth.requireAuth(requestEvent("/profile?tab=1", navigation)));
    expect(page.status).toBe(303);
    expect(page.location).toBe("/api/auth/v2/login?return_to=%2Fprofile%3Ftab%3D1");
    // A client-side navigation: SvelteKit's data request, event.url is the page's.
    const data = requestEvent("/profile/__data.json?x-sveltekit-invalidated=01");
    Object.assign(data, { isDataRequest: true, url: new URL("/profile", ORIGIN) });
    expect((await redirectOf(auth.requireAuth(data))).location).toBe(
      "/api/auth/v2/login?return_to=%2Fprofile",
    );
    // Not a navigation, or redirects turned off: SvelteKit's error(401).
    for (const [event, opts] of [
      [requestEvent("/profile"), {}],
      [requestEvent("/profile", navigation), { redirectToLogin: false }],
      [requestEvent("/profile?/save", { ...form({}), headers: navigation.headers }), {}],
    ] as const) {
      await expect(auth.requireAuth(event, opts)).rejects.toMatchObject({ status: 401 });
    }
  });

  it("keeps an explicit loginPath", async () => {
    const own = new SvelteKitOIDCAuth(options({ loginPath: "/signin" }));
    own.handle({ prefix: "/api" });
    const page = await redirectOf(own.requireAuth(requestEvent("/profile", navigation)));
    expect(page.location).toBe("/signin?return_to=%2Fprofile");
  });

  it("answers API guards with 401 JSON, also for navigations", async () => {
    const api = auth.withAuth(() => new Response("ok"));
    await expectJsonError(await api(requestEvent("/api/me", navigation)), 401, "invalid_token");
  });

  it("clears a tampered cookie on any response, also one with immutable headers", async () => {
    const tampered = `${cookie.slice(0, -4)}AAAA`;
    const response = await handle({
      event: requestEvent("/somewhere", { headers: { cookie: tampered } }),
      resolve: () => Promise.resolve(Response.redirect(`${ORIGIN}/elsewhere`, 302)),
    });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(`${ORIGIN}/elsewhere`);
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^oidc_auth_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax/),
    ]);
    const api = auth.withAuth(() => new Response("ok"));
    const refused = await api(requestEvent("/api/me", { headers: { cookie: tampered } }));
    await expectJsonError(refused, 401, "invalid_token");
    expect(refused.headers.getSetCookie()).toHaveLength(1);
  });

  it("refuses cookie-authenticated unsafe requests from other sites (403), not same-origin ones", async () => {
    const greet = auth.withAuth(() => new Response("ok"));
    const post = (headers: Record<string, string>) =>
      requestEvent("/api/greet", {
        method: "POST",
        headers: { cookie, "content-type": "application/json", ...headers },
        body: "{}",
      });
    await expectJsonError(
      await greet(post({ origin: "https://evil.example" })),
      403,
      "invalid_request",
    );
    await expectJsonError(
      await greet(post({ "sec-fetch-site": "cross-site" })),
      403,
      "invalid_request",
    );
    expect((await greet(post({ origin: ORIGIN }))).status).toBe(200);
    expect((await greet(post({ "sec-fetch-site": "same-origin" }))).status).toBe(200);
  });
});

describe("handle(): form submissions by the core's same-origin rule", () => {
  const post = (headers: Record<string, string>) =>
    requestEvent("/profile?/save", form({ name: "x" }, headers));

  it("takes Sec-Fetch-Site where browsers send it, and the public origin behind a proxy", async () => {
    const handle = new SvelteKitOIDCAuth(options({ proxy: "https://app.example" })).handle({
      prefix: "/api",
    });
    const allowed: Record<string, string>[] = [
      { "sec-fetch-site": "same-origin" },
      { origin: "https://app.example" },
      { origin: ORIGIN },
    ];
    for (const headers of allowed) {
      expect((await runHook(handle, post(headers))).resolved, JSON.stringify(headers)).toBe(true);
    }
    const refused: Record<string, string>[] = [
      { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
      { "sec-fetch-site": "same-site", origin: "https://sub.app.example" },
      { origin: "https://evil.example" },
    ];
    for (const headers of refused) {
      const { resolved, response } = await runHook(handle, post(headers));
      expect(resolved, JSON.stringify(headers)).toBe(false);
      expect(response.status).toBe(403);
    }
  });
});
