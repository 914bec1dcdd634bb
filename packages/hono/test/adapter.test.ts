import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { Handler } from "hono";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { AdapterFixture } from "../../../test-support/adapter-fixture.js";
import { startAdapterFixture } from "../../../test-support/adapter-fixture.js";
import { expectJsonError } from "../../../test-support/assertions.js";
import type { IDToken, OIDCAuthEnv, OIDCAuthOptions, OptionalOIDCAuthEnv } from "../src/index.js";
import { HonoOIDCAuth } from "../src/index.js";

let idp: DevIdp;
let alice: string;
let bob: string;

const REDIRECT_URI = "http://127.0.0.1:9/callback";

let fixture: AdapterFixture;
const options = (extra?: OIDCAuthOptions) => fixture.options(extra);

function bearer(token: string | undefined): RequestInit {
  return token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } };
}

function loginPath(path: string): string {
  return `${path}?${new URLSearchParams({ redirect_uri: REDIRECT_URI })}`;
}

beforeAll(async () => {
  fixture = await startAdapterFixture(REDIRECT_URI);
  ({ idp, alice, bob } = fixture);
});

afterAll(async () => {
  await idp?.stop();
});

describe("routes()", () => {
  let app: Hono;

  beforeAll(() => {
    const auth = new HonoOIDCAuth(options());
    app = new Hono();
    app.route("/api", auth.routes());
    app.route("/other", auth.routes());
  });

  it("serves login under the path it is mounted at", async () => {
    for (const prefix of ["/api", "/other"]) {
      const response = await app.request(loginPath(`${prefix}/auth/v2/login`));
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") as string);
      expect(`${location.origin}`).toBe(idp.issuer);
      expect(location.searchParams.get("client_id")).toBe("oidc-auth-demo");
      expect(location.searchParams.get("redirect_uri")).toBe(REDIRECT_URI);
      expect(response.headers.get("set-cookie")).toMatch(/^oidc_auth_tx=/);
    }
  });

  it("serves nothing outside its mount points", async () => {
    expect((await app.request(loginPath("/auth/v2/login"))).status).toBe(404);
    expect((await app.request(loginPath("/elsewhere/auth/v2/login"))).status).toBe(404);
  });

  it("routes POST endpoints and bearer-protected userinfo under the mount", async () => {
    const token = await app.request("/api/auth/v2/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    await expectJsonError(token, 400, "invalid_request");
    const userinfo = await app.request("/other/auth/v2/userinfo", bearer(alice));
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toEqual({
      username: "alice",
      first_name: "Alice",
      last_name: "Liddell",
      pw_name: "alice",
      email: "alice@example.org",
    });
    await expectJsonError(await app.request("/api/auth/v2/userinfo"), 401, "invalid_token");
  });

  it("answers a callback without code or state with 400 JSON from oidc-auth", async () => {
    const response = await app.request("/api/auth/v2/callback");
    await expectJsonError(response, 400, "invalid_request");
  });
});

describe("routes() with the routes option", () => {
  let app: Hono;

  beforeAll(() => {
    const auth = new HonoOIDCAuth(
      options({ routes: { login: "/signin", userinfo: "/whoami", device: null } }),
    );
    app = new Hono();
    app.route("/api", auth.routes());
  });

  it("serves endpoints at their configured paths", async () => {
    const login = await app.request(loginPath("/api/signin"));
    expect(login.status).toBe(302);
    expect(login.headers.get("location")).toMatch(new RegExp(`^${idp.issuer}/`));
    const whoami = await app.request("/api/whoami", bearer(bob));
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ username: "bob" });
  });

  it("no longer serves the default paths of moved endpoints", async () => {
    expect((await app.request(loginPath("/api/auth/v2/login"))).status).toBe(404);
    expect((await app.request("/api/auth/v2/userinfo", bearer(bob))).status).toBe(404);
  });

  it("answers 404 for a disabled endpoint", async () => {
    const device = await app.request("/api/auth/v2/device", { method: "POST" });
    expect(device.status).toBe(404);
  });

  it("keeps serving the endpoints left at their defaults", async () => {
    const token = await app.request("/api/auth/v2/token", { method: "POST" });
    await expectJsonError(token, 400, "invalid_request");
  });
});

/**
 * The guards are registered both ways: as middleware (`required(options)`) and as the
 * wrapper of one handler (`required(handler, options)`); both must behave the same.
 */
describe.each(["middleware", "handler wrapper"] as const)(
  "required() and optional() as %s",
  (form) => {
    let app: Hono;
    let reached: string[];

    beforeAll(() => {
      const auth = new HonoOIDCAuth(options());
      app = new Hono();
      reached = [];
      const me: Handler<OIDCAuthEnv> = (c) => {
        const token = c.get("token");
        expectTypeOf(token).toEqualTypeOf<IDToken>();
        reached.push("me");
        return c.json({ sub: token.sub, username: token.preferred_username, roles: token.roles });
      };
      const apiScope: Handler<OIDCAuthEnv> = (c) => {
        reached.push("api-scope");
        return c.text(c.get("token").sub);
      };
      const admin: Handler<OIDCAuthEnv> = (c) => {
        reached.push("admin");
        return c.text(`hi ${c.get("token").preferred_username}`);
      };
      const hello: Handler<OptionalOIDCAuthEnv> = (c) => {
        const token = c.get("token");
        expectTypeOf(token).toEqualTypeOf<IDToken | null>();
        return c.json({ sub: token?.sub ?? null });
      };
      if (form === "middleware") {
        app.get("/me", auth.required(), me);
        app.get("/api-scope", auth.required({ scopes: "api" }), apiScope);
        app.get("/admin", auth.required({ claims: { roles: ["admin"] } }), admin);
        app.get("/hello", auth.optional(), hello);
        app.get("/hello-api", auth.optional({ scopes: "api" }), hello);
      } else {
        app.get("/me", auth.required(me));
        app.get("/api-scope", auth.required(apiScope, { scopes: "api" }));
        app.get("/admin", auth.required(admin, { claims: { roles: ["admin"] } }));
        app.get("/hello", auth.optional(hello));
        app.get("/hello-api", auth.optional(hello, { scopes: "api" }));
      }
    });

    it("required() lets a valid token through and puts it in c.get('token')", async () => {
      const response = await app.request("/me", bearer(alice));
      expect(response.status).toBe(200);
      const body = (await response.json()) as { sub: string; username: string; roles: string[] };
      expect(body.sub).toBe("u-alice");
      expect(body.username).toBe("alice");
      expect([...body.roles].sort()).toEqual(["/staff", "admin", "editor", "user"]);
    });

    it("required() answers 401 JSON with a Bearer challenge and never runs the handler", async () => {
      const before = reached.length;
      const missing = await app.request("/me");
      await expectJsonError(missing, 401, "invalid_token");
      expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
      const invalid = await app.request("/me", bearer(`${alice}x`));
      await expectJsonError(invalid, 401, "invalid_token");
      expect(invalid.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
      expect(reached.length).toBe(before);
    });

    it("required({ scopes }) answers 403 insufficient_scope JSON", async () => {
      const before = reached.length;
      const response = await app.request("/api-scope", bearer(alice));
      await expectJsonError(response, 403, "insufficient_scope");
      expect(response.headers.get("www-authenticate")).toMatch(/scope="api"/);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(reached.length).toBe(before);
      const withApi = await idp.mintAccessToken("bob", { scope: "openid api" });
      const allowed = await app.request("/api-scope", bearer(withApi));
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toBe("u-bob");
    });

    it("required({ claims }) answers 403 access_denied JSON", async () => {
      await expectJsonError(await app.request("/admin", bearer(bob)), 403, "access_denied");
      const allowed = await app.request("/admin", bearer(alice));
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toBe("hi alice");
    });

    it("optional() sets the token when valid and null otherwise", async () => {
      const hello = async (init: RequestInit, path = "/hello") =>
        (await (await app.request(path, init)).json()) as { sub: string | null };
      expect(await hello(bearer(alice))).toEqual({ sub: "u-alice" });
      expect(await hello({})).toEqual({ sub: null });
      expect(await hello(bearer("not-a-jwt"))).toEqual({ sub: null });
      expect(await hello({ headers: { authorization: `Basic ${btoa("a:b")}` } })).toEqual({
        sub: null,
      });
      expect(await hello(bearer(alice), "/hello-api")).toEqual({ sub: null });
    });
  },
);

describe("required(handler) on a cache hit", () => {
  it("answers synchronously when the handler does, and asynchronously on a miss", async () => {
    const auth = new HonoOIDCAuth(options());
    const app = new Hono();
    app.get(
      "/me",
      auth.required((c) => c.text(c.get("token").sub)),
    );
    app.get("/mw", auth.required(), (c) => c.text(c.get("token").sub));
    const request = () => new Request("http://app.test/me", bearer(alice));
    const miss = app.fetch(request());
    expect(miss).toBeInstanceOf(Promise);
    expect(await (await miss).text()).toBe("u-alice");
    const hit = app.fetch(request());
    expect(hit).toBeInstanceOf(Response);
    expect(await (hit as Response).text()).toBe("u-alice");
    // Middleware makes any Hono route asynchronous, hit or not.
    const throughMiddleware = app.fetch(new Request("http://app.test/mw", bearer(alice)));
    expect(throughMiddleware).toBeInstanceOf(Promise);
    expect((await throughMiddleware).status).toBe(200);
    expect(auth.tokenCacheStats).toMatchObject({ hits: 2, misses: 1 });
  });

  it("passes route parameters through, typed when the path is named", async () => {
    const auth = new HonoOIDCAuth(options());
    const app = new Hono();
    app.get(
      "/items/:id",
      auth.required<"/items/:id">((c) => {
        expectTypeOf(c.req.param("id")).toEqualTypeOf<string>();
        return c.json({ id: c.req.param("id"), sub: c.get("token").sub });
      }),
    );
    app.get(
      "/untyped/:id",
      auth.optional((c) => {
        expectTypeOf(c.req.param("id")).toEqualTypeOf<string | undefined>();
        return c.json({ id: c.req.param("id") ?? null, sub: c.get("token")?.sub ?? null });
      }),
    );
    for (let i = 0; i < 2; i++) {
      const item = await app.request("/items/42", bearer(alice)); // a miss, then a hit
      expect(await item.json()).toEqual({ id: "42", sub: "u-alice" });
    }
    const untyped = await app.request("/untyped/7");
    expect(await untyped.json()).toEqual({ id: "7", sub: null });
  });

  it("refuses a cached token a route's scopes do not allow, through the slow path", async () => {
    const auth = new HonoOIDCAuth(options());
    const app = new Hono();
    app.get(
      "/me",
      auth.required((c) => c.text(c.get("token").sub)),
    );
    app.get(
      "/api",
      auth.required((c) => c.text("api"), { scopes: "api" }),
    );
    expect((await app.request("/me", bearer(bob))).status).toBe(200);
    await expectJsonError(await app.request("/api", bearer(bob)), 403, "insufficient_scope");
  });

  it("lets a handler's synchronous error reach the app's error handler", async () => {
    const auth = new HonoOIDCAuth(options());
    const app = new Hono();
    app.onError((err, c) => c.json({ caught: err.message }, 500));
    app.get(
      "/sync",
      auth.required(() => {
        throw new Error("handler failed");
      }),
    );
    for (let i = 0; i < 2; i++) {
      const response = await app.request("/sync", bearer(alice)); // a miss, then a hit
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ caught: "handler failed" });
    }
  });
});

describe("the IdP down", () => {
  it("required() answers 503 JSON and optional() null", async () => {
    const down = await startDevIdp();
    const token = await down.mintAccessToken("alice");
    await down.stop();
    const auth = new HonoOIDCAuth(options({ discoveryUrl: down.discoveryUrl }));
    const app = new Hono();
    let reached = false;
    app.get("/me", auth.required(), (c) => {
      reached = true;
      return c.text("ok");
    });
    app.get("/hello", auth.optional(), (c) => c.json({ sub: c.get("token")?.sub ?? null }));
    const response = await app.request("/me", bearer(token));
    await expectJsonError(response, 503, "temporarily_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
    expect(reached).toBe(false);
    const hello = await app.request("/hello", bearer(token));
    expect(hello.status).toBe(200);
    expect(await hello.json()).toEqual({ sub: null });
  });
});

describe("errors downstream of the guards", () => {
  let app: Hono;

  beforeAll(() => {
    const auth = new HonoOIDCAuth(options());
    app = new Hono();
    app.onError((err, c) => c.json({ caught: err.message }, 500));
    app.get("/sync", auth.required(), () => {
      throw new Error("handler failed");
    });
    app.get("/async", auth.required(), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      throw new Error("async handler failed");
    });
    app.get("/optional", auth.optional(), () => {
      throw new Error("optional handler failed");
    });
  });

  it("required() does not turn a failing handler into a 401", async () => {
    const response = await app.request("/sync", bearer(alice));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ caught: "handler failed" });
    expect(response.headers.get("www-authenticate")).toBeNull();
  });

  it("required() does not turn a failing async handler into a 401", async () => {
    const response = await app.request("/async", bearer(alice));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ caught: "async handler failed" });
  });

  it("optional() lets a failing handler's error reach the app", async () => {
    const response = await app.request("/optional");
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ caught: "optional handler failed" });
  });

  it("still refuses a bad token before the handler runs", async () => {
    await expectJsonError(await app.request("/sync"), 401, "invalid_token");
  });
});
