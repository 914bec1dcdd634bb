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
