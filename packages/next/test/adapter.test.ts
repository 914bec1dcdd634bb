import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { NextRequest } from "next/server.js";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { AdapterFixture } from "../../../test-support/adapter-fixture.js";
import { startAdapterFixture } from "../../../test-support/adapter-fixture.js";
import { expectJsonError } from "../../../test-support/assertions.js";
import type { IDToken, OIDCAuthOptions, RouteHandler } from "../src/index.js";
import { NextOIDCAuth } from "../src/index.js";

let idp: DevIdp;
let alice: string;
let bob: string;

const APP = "http://127.0.0.1:3000";
const REDIRECT_URI = `${APP}/callback`;

let fixture: AdapterFixture;
const options = (extra?: OIDCAuthOptions) => fixture.options(extra);

/** A request as a route handler receives it. */
function request(path: string, init: RequestInit & { token?: string } = {}): Request {
  const { token, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
  return new Request(`${APP}${path}`, { ...rest, headers });
}

function loginPath(prefix: string): string {
  return `${prefix}/auth/v2/login?${new URLSearchParams({ redirect_uri: REDIRECT_URI })}`;
}

/** The context Next 15+ passes to `app/items/[id]/route.ts`. */
type ItemContext = { params: Promise<{ id: string }> };
const itemContext = (id: string): ItemContext => ({ params: Promise.resolve({ id }) });

beforeAll(async () => {
  fixture = await startAdapterFixture(REDIRECT_URI);
  ({ idp, alice, bob } = fixture);
});

afterAll(async () => {
  await idp?.stop();
});

describe("handlers()", () => {
  let auth: NextOIDCAuth;

  beforeAll(() => {
    auth = new NextOIDCAuth(options());
  });

  it("serves login under /api by default (app/api/auth/v2/[...oidc]/route.ts)", async () => {
    const { GET } = auth.handlers();
    const response = await GET(request(loginPath("/api")));
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") as string);
    expect(location.origin).toBe(idp.issuer);
    expect(location.searchParams.get("redirect_uri")).toBe(REDIRECT_URI);
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");
    expect(response.headers.get("set-cookie")).toMatch(/^oidc_auth_tx=/);
  });

  it("serves the endpoints under the prefix it is given", async () => {
    const { GET } = auth.handlers({ prefix: "/auth-api" });
    expect((await GET(request(loginPath("/auth-api")))).status).toBe(302);
    await expectJsonError(await GET(request(loginPath("/api"))), 404, "not_found");
    const root = auth.handlers({ prefix: "" });
    expect((await root.GET(request(loginPath("")))).status).toBe(302);
  });

  it("answers 404 JSON for paths that are no endpoint", async () => {
    const { GET, POST } = auth.handlers();
    await expectJsonError(await GET(request("/api/auth/v2/nope")), 404, "not_found");
    await expectJsonError(
      await POST(request("/api/auth/v2", { method: "POST" })),
      404,
      "not_found",
    );
  });

  it("routes POST to the token and device endpoints", async () => {
    const { POST } = auth.handlers();
    const token = await POST(
      request("/api/auth/v2/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "refresh-token=not-one-of-ours",
      }),
    );
    expect(token.status).toBeGreaterThanOrEqual(400);
    expect(token.status).toBeLessThan(500);
    expect(token.headers.get("cache-control")).toBe("no-store");
    const device = await POST(request("/api/auth/v2/device", { method: "POST" }));
    expect(device.status).toBe(200);
    expect(await device.json()).toMatchObject({
      device_code: expect.any(String),
      user_code: expect.any(String),
      verification_uri: expect.stringContaining(idp.issuer),
    });
  });

  it("answers 405 with Allow for a method the endpoint does not take", async () => {
    const { GET, POST } = auth.handlers();
    const response = await POST(request(loginPath("/api"), { method: "POST" }));
    await expectJsonError(response, 405, "invalid_request");
    expect(response.headers.get("allow")).toBe("GET");
    await expectJsonError(await GET(request("/api/auth/v2/token")), 405, "invalid_request");
  });

  it("serves bearer-protected userinfo with GET", async () => {
    const { GET } = auth.handlers();
    const response = await GET(request("/api/auth/v2/userinfo", { token: alice }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      username: "alice",
      first_name: "Alice",
      last_name: "Liddell",
      pw_name: "alice",
      email: "alice@example.org",
    });
    await expectJsonError(await GET(request("/api/auth/v2/userinfo")), 401, "invalid_token");
  });

  it("serves a NextRequest as it is (route handlers get one)", async () => {
    const { GET } = auth.handlers();
    const response = await GET(new NextRequest(`${APP}${loginPath("/api")}`));
    expect(response.status).toBe(302);
  });
});

describe("withAuth()", () => {
  let auth: NextOIDCAuth;
  let reached: number;

  beforeAll(() => {
    auth = new NextOIDCAuth(options());
  });

  const me = () => {
    reached = 0;
    return auth.withAuth(async (_request, { token }) => {
      reached++;
      expectTypeOf(token).toEqualTypeOf<IDToken>();
      return Response.json({ sub: token.sub, roles: token.roles });
    });
  };

  it("runs the handler with the verified token", async () => {
    const response = await me()(request("/api/me", { token: alice }), {});
    expect(response.status).toBe(200);
    const body = (await response.json()) as { sub: string; roles: string[] };
    expect(body.sub).toBe("u-alice");
    expect([...body.roles].sort()).toEqual(["/staff", "admin", "editor", "user"]);
    expect(reached).toBe(1);
  });

  it("answers 401 JSON with a Bearer challenge and never runs the handler", async () => {
    const GET = me();
    const missing = await GET(request("/api/me"), {});
    await expectJsonError(missing, 401, "invalid_token");
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
    const invalid = await GET(request("/api/me", { token: `${alice}x` }), {});
    await expectJsonError(invalid, 401, "invalid_token");
    expect(invalid.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    const basic = await GET(request("/api/me", { headers: { authorization: "Basic YTpi" } }), {});
    await expectJsonError(basic, 401, "invalid_token");
    expect(reached).toBe(0);
  });

  it("answers 403 insufficient_scope for a missing scope", async () => {
    let ran = false;
    const GET = auth.withAuth(
      async () => {
        ran = true;
        return new Response("ok");
      },
      { scopes: "api" },
    );
    const response = await GET(request("/api/scoped", { token: alice }), {});
    await expectJsonError(response, 403, "insufficient_scope");
    expect(response.headers.get("www-authenticate")).toMatch(/scope="api"/);
    expect(ran).toBe(false);
    const withApi = await idp.mintAccessToken("bob", { scope: "openid api" });
    expect((await GET(request("/api/scoped", { token: withApi }), {})).status).toBe(200);
  });

  it("answers 403 access_denied when a claim constraint fails", async () => {
    const GET = auth.withAuth(async (_request, { token }) => new Response(`hi ${token.sub}`), {
      claims: { roles: ["admin"] },
    });
    const denied = await GET(request("/api/admin", { token: bob }), {});
    await expectJsonError(denied, 403, "access_denied");
    expect(denied.headers.get("www-authenticate")).toMatch(/^Bearer /);
    const allowed = await GET(request("/api/admin", { token: alice }), {});
    expect(await allowed.text()).toBe("hi u-alice");
  });

  it("passes the route's context through, Promise params included", async () => {
    const GET = auth.withAuth<ItemContext>(async (_request, context) => {
      expectTypeOf(context.params).toEqualTypeOf<Promise<{ id: string }>>();
      expectTypeOf(context.token).toEqualTypeOf<IDToken>();
      const { id } = await context.params;
      return Response.json({ id, sub: context.token.sub, keys: Object.keys(context).sort() });
    });
    expectTypeOf(GET).toEqualTypeOf<RouteHandler<Request, ItemContext>>();
    const context = itemContext("42");
    const response = await GET(request("/api/items/42", { token: alice }), context);
    expect(await response.json()).toEqual({ id: "42", sub: "u-alice", keys: ["params", "token"] });
    expect(context).not.toHaveProperty("token"); // the route's own context is left alone
  });

  it("infers the context from an annotated handler and keeps NextRequest", async () => {
    const GET = auth.withAuth(
      async (req: NextRequest, { params, token }: ItemContext & { token: IDToken }) =>
        Response.json({ path: req.nextUrl.pathname, id: (await params).id, sub: token.sub }),
    );
    expectTypeOf(GET).toEqualTypeOf<RouteHandler<NextRequest, ItemContext>>();
    const req = new NextRequest(`${APP}/api/items/7`, {
      headers: { authorization: `Bearer ${bob}` },
    });
    const response = await GET(req, itemContext("7"));
    expect(await response.json()).toEqual({ path: "/api/items/7", id: "7", sub: "u-bob" });
  });

  it("lets a failing handler's error reach Next instead of answering 401", async () => {
    const GET = auth.withAuth(async () => {
      throw new Error("handler failed");
    });
    await expect(GET(request("/api/boom", { token: alice }), {})).rejects.toThrow("handler failed");
  });
});

describe("withOptionalAuth()", () => {
  let auth: NextOIDCAuth;
  const hello = () =>
    auth.withOptionalAuth(async (_request, { token }) => {
      expectTypeOf(token).toEqualTypeOf<IDToken | null>();
      return Response.json({ sub: token?.sub ?? null });
    });

  beforeAll(() => {
    auth = new NextOIDCAuth(options());
  });

  async function sub(init: { token?: string; headers?: Record<string, string> }, GET = hello()) {
    const response = await GET(request("/api/hello", init), {});
    expect(response.status).toBe(200);
    return ((await response.json()) as { sub: string | null }).sub;
  }

  it("runs the handler with the token when it is valid", async () => {
    expect(await sub({ token: alice })).toBe("u-alice");
  });

  it("runs the handler with null for a missing, foreign or invalid token", async () => {
    expect(await sub({})).toBeNull();
    expect(await sub({ headers: { authorization: "Basic YTpi" } })).toBeNull();
    expect(await sub({ token: "not-a-jwt" })).toBeNull();
    const expired = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: "u-alice",
      iat: 1,
      exp: 2,
    });
    expect(await sub({ token: expired })).toBeNull();
  });

  it("runs the handler with null when a scope or claim constraint fails", async () => {
    const admins = auth.withOptionalAuth(
      async (_request, { token }) => Response.json({ sub: token?.sub ?? null }),
      { scopes: "email", claims: { roles: ["admin"] } },
    );
    expect(await sub({ token: alice }, admins)).toBe("u-alice");
    expect(await sub({ token: bob }, admins)).toBeNull();
  });

  it("passes the route's context through", async () => {
    const GET = auth.withOptionalAuth<ItemContext>(async (_request, { params, token }) =>
      Response.json({ id: (await params).id, sub: token?.sub ?? null }),
    );
    const response = await GET(request("/api/items/9"), itemContext("9"));
    expect(await response.json()).toEqual({ id: "9", sub: null });
  });
});

describe("the IdP down", () => {
  it("withAuth() answers 503 JSON and withOptionalAuth() runs with null", async () => {
    const down = await startDevIdp();
    const token = await down.mintAccessToken("alice");
    await down.stop();
    const auth = new NextOIDCAuth(options({ discoveryUrl: down.discoveryUrl, timeoutSec: 2 }));
    let reached = false;
    const GET = auth.withAuth(async () => {
      reached = true;
      return new Response("ok");
    });
    const response = await GET(request("/api/me", { token }), {});
    await expectJsonError(response, 503, "temporarily_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
    expect(reached).toBe(false);
    const hello = auth.withOptionalAuth(async (_request, { token }) =>
      Response.json({ sub: token?.sub ?? null }),
    );
    expect(await (await hello(request("/api/hello", { token }), {})).json()).toEqual({
      sub: null,
    });
  });
});

describe("browser sessions", () => {
  let auth: NextOIDCAuth;
  let cookie: string;

  /** A session login through handlers(): login?return_to → the IdP → the app's callback. */
  async function sessionLogin(at = auth, from = idp): Promise<string> {
    const { GET } = at.handlers();
    const start = await GET(request("/api/auth/v2/login?return_to=%2Fprofile"));
    expect(start.status).toBe(302);
    const transaction = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const back = await from.completeLogin(
      start.headers.get("location") as string,
      "alice",
      "alice-password",
    );
    expect(back.pathname).toBe("/api/auth/v2/callback");
    const callback = await GET(
      request(`${back.pathname}${back.search}`, { headers: { cookie: transaction } }),
    );
    expect(callback.status).toBe(303);
    expect(callback.headers.get("location")).toBe("/profile");
    const session = callback.headers.getSetCookie().find((c) => c.startsWith("oidc_auth_session="));
    return (session as string).split(";")[0] as string;
  }

  const navigation = (path: string, headers: Record<string, string> = {}) =>
    request(path, { headers: { "sec-fetch-mode": "navigate", ...headers } });

  beforeAll(async () => {
    auth = new NextOIDCAuth(options());
    cookie = await sessionLogin();
  });

  it("sends page guards to the login route under /api unless loginPath is set", () => {
    expect(auth.core.config.loginPath).toBe("/api/auth/v2/login");
    const own = new NextOIDCAuth(options({ loginPath: "/auth-api/auth/v2/login" }));
    expect(own.core.config.loginPath).toBe("/auth-api/auth/v2/login");
    const fromEnv = new NextOIDCAuth(options({ appName: "login-path-from-env" }));
    Object.assign(process.env, { OIDC_LOGIN_PATH: "/sso/login" });
    try {
      expect(fromEnv.core.config.loginPath).toBe("/sso/login");
    } finally {
      delete process.env.OIDC_LOGIN_PATH;
    }
  });

  it("lets withAuth() accept the session cookie, a bearer token, or what `accept` says", async () => {
    const handler = async (_request: Request, { token }: { token: IDToken }) =>
      Response.json({ sub: token.sub });
    const both = auth.withAuth(handler);
    const session = auth.withAuth(handler, { accept: "session" });
    const bearer = auth.withAuth(handler, { accept: "bearer" });
    const withCookie = () => request("/api/me", { headers: { cookie } });
    expect(await (await both(withCookie(), {})).json()).toEqual({ sub: "u-alice" });
    expect((await both(request("/api/me", { token: bob }), {})).status).toBe(200);
    expect((await session(withCookie(), {})).status).toBe(200);
    await expectJsonError(
      await session(request("/api/me", { token: bob }), {}),
      401,
      "invalid_token",
    );
    expect((await bearer(request("/api/me", { token: bob }), {})).status).toBe(200);
    await expectJsonError(await bearer(withCookie(), {}), 401, "invalid_token");
  });

  it("refuses a cookie-authenticated POST from another origin with 403", async () => {
    let ran = 0;
    const POST = auth.withAuth(async () => {
      ran++;
      return new Response("saved");
    });
    const post = (headers: Record<string, string>) =>
      POST(request("/api/notes", { method: "POST", headers: { cookie, ...headers } }), {});
    await expectJsonError(await post({ origin: "https://evil.example" }), 403, "invalid_request");
    await expectJsonError(await post({ "sec-fetch-site": "cross-site" }), 403, "invalid_request");
    expect(ran).toBe(0);
    expect((await post({ origin: APP })).status).toBe(200);
    expect((await post({ "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect(ran).toBe(2);
  });

  it("sends navigations to the login with redirectToLogin; API calls still get 401 JSON", async () => {
    const GET = auth.withAuth(async () => new Response("<p>page</p>"), { redirectToLogin: true });
    const page = await GET(navigation("/reports?year=2024"), {});
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe(
      `/api/auth/v2/login?${new URLSearchParams({ return_to: "/reports?year=2024" })}`,
    );
    await expectJsonError(await GET(request("/reports"), {}), 401, "invalid_token");
    const api = auth.withAuth(async () => new Response("ok"));
    await expectJsonError(await api(navigation("/api/me"), {}), 401, "invalid_token");
  });

  it("clears a tampered cookie on refusals and on the handler's response, immutable ones too", async () => {
    const tampered = `${cookie.slice(0, -6)}AAAAAA`;
    const refused = await auth.withAuth(async () => new Response("ok"))(
      request("/api/me", { headers: { cookie: tampered } }),
      {},
    );
    await expectJsonError(refused, 401, "invalid_token");
    expect(refused.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^oidc_auth_session=; .*Max-Age=0/),
    ]);
    const optional = auth.withOptionalAuth(async (_request, { token }) =>
      Response.redirect(`${APP}/${token ? "in" : "out"}`, 302),
    );
    const response = await optional(request("/api/hello", { headers: { cookie: tampered } }), {});
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(`${APP}/out`);
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^oidc_auth_session=; .*Max-Age=0/),
    ]);
  });

  it("proxy() records the page's path and leaves a live session's cookie alone", async () => {
    const proxy = auth.proxy();
    const response = await proxy(
      new NextRequest(`${APP}/profile?tab=roles`, { headers: { cookie: `${cookie}; theme=dark` } }),
    );
    expect(response.headers.get("x-middleware-next")).toBe("1");
    expect(response.headers.get("x-middleware-request-x-oidc-auth-return-to")).toBe(
      "/profile?tab=roles",
    );
    expect(response.headers.get("x-middleware-request-cookie")).toBe(`${cookie}; theme=dark`);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it("proxy() clears a bad cookie for the browser and for the page behind it", async () => {
    const response = await auth.proxy()(
      new NextRequest(`${APP}/profile`, {
        headers: { cookie: "theme=dark; oidc_auth_session=garbage; lang=en" },
      }),
    );
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^oidc_auth_session=; .*Max-Age=0/),
    ]);
    expect(response.headers.get("x-middleware-request-cookie")).toBe("theme=dark; lang=en");
  });

  it("proxy() renews a passthrough session before the page renders, once", async () => {
    // Access tokens of 18 s: a session is renewed 15 s before expiry, i.e. after 3 s.
    const short = await startDevIdp({ accessTokenTtlSec: 18 });
    try {
      const renewing = new NextOIDCAuth(options({ discoveryUrl: short.discoveryUrl }));
      const old = await sessionLogin(renewing, short);
      await new Promise((resolve) => setTimeout(resolve, 3200));
      short.resetHits();
      const page = () =>
        new NextRequest(`${APP}/profile`, { headers: { cookie: `theme=dark; ${old}` } });
      const response = await renewing.proxy()(page());
      const [renewed, ...rest] = response.headers.getSetCookie();
      expect(rest).toEqual([]);
      expect(renewed).toMatch(
        /^oidc_auth_session=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/,
      );
      const fresh = (renewed as string).split(";")[0] as string;
      expect(fresh).not.toBe(old);
      expect(response.headers.get("x-middleware-request-cookie")).toBe(`theme=dark; ${fresh}`);
      expect(short.hits.get("/token")).toBe(1);
      // The page behind the proxy sees the renewed cookie: nothing left to renew.
      const behind = new Request(`${APP}/profile`, { headers: { cookie: fresh } });
      expect((await renewing.session(behind))?.token.sub).toBe("u-alice");
      expect(renewing.responseCookies(behind)).toEqual([]);
      expect(short.hits.get("/token")).toBe(1);
      await renewing.close();
    } finally {
      await short.stop();
    }
  });
});
