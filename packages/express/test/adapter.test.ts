import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import type { Express } from "express";
import express from "express";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { AdapterFixture } from "../../../test-support/adapter-fixture.js";
import { startAdapterFixture } from "../../../test-support/adapter-fixture.js";
import { expectJsonError } from "../../../test-support/assertions.js";
import type { IDToken, OIDCAuthOptions } from "../src/index.js";
import { ExpressOIDCAuth } from "../src/index.js";

let idp: DevIdp;
let alice: string;
let bob: string;

const REDIRECT_URI = "http://127.0.0.1:9/callback";

let fixture: AdapterFixture;
const options = (extra?: OIDCAuthOptions) => fixture.options(extra);

/** An Express app listening on 127.0.0.1 and a free port, closed after the file's tests. */
const servers: Server[] = [];
async function serve(app: Express): Promise<string> {
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, "127.0.0.1", (err?: Error) =>
      err ? reject(err) : resolve(listening),
    );
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function bearer(token: string | undefined): RequestInit {
  return token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } };
}

function loginPath(path: string): string {
  return `${path}?${new URLSearchParams({ redirect_uri: REDIRECT_URI })}`;
}

/** POSTs `body` with `contentType` to the token endpoint under /api. */
function postToken(base: string, contentType: string, body: string): Promise<Response> {
  return fetch(`${base}/api/auth/v2/token`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
}

beforeAll(async () => {
  fixture = await startAdapterFixture(REDIRECT_URI);
  ({ idp, alice, bob } = fixture);
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await idp?.stop();
});

describe("router()", () => {
  let base: string;

  beforeAll(async () => {
    const auth = new ExpressOIDCAuth(options());
    const app = express();
    app.use("/api", auth.router());
    app.use("/other", auth.router());
    app.get("/api/after", (_req, res) => {
      res.json({ reached: "after" });
    });
    base = await serve(app);
  });

  it("serves login under the path it is mounted at", async () => {
    for (const prefix of ["/api", "/other"]) {
      const response = await fetch(`${base}${loginPath(`${prefix}/auth/v2/login`)}`, {
        redirect: "manual",
      });
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get("location") as string);
      expect(`${location.origin}`).toBe(idp.issuer);
      expect(location.searchParams.get("client_id")).toBe("oidc-auth-demo");
      expect(location.searchParams.get("redirect_uri")).toBe(REDIRECT_URI);
      expect(response.headers.get("set-cookie")).toMatch(/^oidc_auth_tx=/);
    }
  });

  it("passes every other path on to the app's own routes", async () => {
    const after = await fetch(`${base}/api/after`);
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ reached: "after" });
    expect((await fetch(`${base}${loginPath("/auth/v2/login")}`)).status).toBe(404);
    expect((await fetch(`${base}${loginPath("/elsewhere/auth/v2/login")}`)).status).toBe(404);
  });

  it("answers a method an endpoint does not serve with 405 and Allow", async () => {
    const response = await fetch(`${base}/api/auth/v2/token`);
    await expectJsonError(response, 405, "invalid_request");
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("streams POST bodies to the endpoints and serves bearer-protected userinfo", async () => {
    await expectJsonError(await postToken(base, "application/json", "{}"), 400, "invalid_request");
    await expectJsonError(
      await postToken(base, "application/x-www-form-urlencoded", "grant_type=bogus"),
      400,
      "unsupported_grant_type",
    );
    const userinfo = await fetch(`${base}/other/auth/v2/userinfo`, bearer(alice));
    expect(userinfo.status).toBe(200);
    expect(((await userinfo.json()) as { username: string }).username).toBe("alice");
  });

  it("answers a callback without code or state with 400 JSON from oidc-auth", async () => {
    await expectJsonError(await fetch(`${base}/api/auth/v2/callback`), 400, "invalid_request");
  });
});

describe("router() behind body parsers", () => {
  let base: string;

  beforeAll(async () => {
    const auth = new ExpressOIDCAuth(options());
    const app = express();
    // The mistake the router must survive: parsers that read the body before it.
    app.use(express.json());
    app.use(express.urlencoded({ extended: true }));
    app.use(express.text());
    app.use("/api", auth.router());
    base = await serve(app);
  });

  it("rebuilds a form body the parser read", async () => {
    await expectJsonError(
      await postToken(base, "application/x-www-form-urlencoded", "grant_type=bogus"),
      400,
      "unsupported_grant_type",
    );
    // a repeated parameter stays repeated, and the core refuses it as it would unparsed
    const repeated = await postToken(
      base,
      "application/x-www-form-urlencoded",
      "grant_type=refresh_token&refresh_token=a&refresh_token=b",
    );
    await expectJsonError(repeated, 400, ["invalid_request", "invalid_grant"]);
  });

  it("rebuilds a JSON body the parser read", async () => {
    await expectJsonError(
      await postToken(base, "application/json", '{"grant_type":"bogus"}'),
      400,
      "unsupported_grant_type",
    );
    await expectJsonError(
      await postToken(base, "application/json", '{"grant_type":{"nested":"x"}}'),
      400,
      "invalid_request",
    );
  });

  it("refuses nested form parameters with 400, never a 500", async () => {
    await expectJsonError(
      await postToken(base, "application/x-www-form-urlencoded", "grant_type[a]=b"),
      400,
      "invalid_request",
    );
  });

  it("refuses a text body as the core does, with 400", async () => {
    await expectJsonError(
      await postToken(base, "text/plain", "grant_type=bogus"),
      400,
      "invalid_request",
    );
  });
});

describe("router() behind middleware that drained the body", () => {
  it("answers 500 JSON naming the fix instead of waiting for a body that never comes", async () => {
    const auth = new ExpressOIDCAuth(options());
    const app = express();
    app.use((req, _res, next) => {
      req.resume(); // reads the body and keeps nothing of it
      req.once("end", () => next());
    });
    app.use("/api", auth.router());
    const base = await serve(app);
    const response = await postToken(base, "application/x-www-form-urlencoded", "grant_type=x");
    const body = await expectJsonError(response, 500, "server_error");
    expect(body.error_description).toMatch(/before any body parser/);
  });
});

describe("router() and the per-IP rate limits", () => {
  const limited = { rateLimits: { login: { ip: { capacity: 2, refillPerSec: 0.001 } } } };

  it("counts logins per socket address", async () => {
    const auth = new ExpressOIDCAuth(options(limited));
    const app = express();
    app.use("/api", auth.router());
    const base = await serve(app);
    const login = () => fetch(`${base}${loginPath("/api/auth/v2/login")}`, { redirect: "manual" });
    expect((await login()).status).toBe(302);
    expect((await login()).status).toBe(302);
    await expectJsonError(await login(), 429);
  });

  it("takes the address from the clientIp option when given", async () => {
    const auth = new ExpressOIDCAuth(options(limited));
    const app = express();
    let next = 0;
    app.use("/api", auth.router({ clientIp: () => `192.0.2.${++next}` }));
    const base = await serve(app);
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${base}${loginPath("/api/auth/v2/login")}`, {
        redirect: "manual",
      });
      expect(response.status).toBe(302);
    }
  });
});

describe("required() and optional()", () => {
  let base: string;
  const reached: string[] = [];

  beforeAll(async () => {
    const auth = new ExpressOIDCAuth(options());
    const app = express();
    app.get("/me", auth.required(), (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<IDToken | null | undefined>();
      reached.push("me");
      const token = req.auth as IDToken;
      res.json({ sub: token.sub, username: token.preferred_username, roles: token.roles });
    });
    app.get("/api-scope", auth.required({ scopes: "api" }), (req, res) => {
      reached.push("api-scope");
      res.send(req.auth?.sub);
    });
    app.get("/admin", auth.required({ claims: { roles: ["admin"] } }), (req, res) => {
      reached.push("admin");
      res.send(`hi ${req.auth?.preferred_username}`);
    });
    app.get("/hello", auth.optional(), (req, res) => {
      res.json({ sub: req.auth === null ? null : (req.auth?.sub ?? "unset") });
    });
    app.get("/hello-api", auth.optional({ scopes: "api" }), (req, res) => {
      res.json({ sub: req.auth === null ? null : (req.auth?.sub ?? "unset") });
    });
    // The guard leaves the body to the route's own parser.
    app.post("/echo", auth.required(), express.json(), (req, res) => {
      res.json({ sub: req.auth?.sub, body: req.body });
    });
    base = await serve(app);
  });

  it("required() lets a valid token through and puts it in req.auth", async () => {
    const response = await fetch(`${base}/me`, bearer(alice));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { sub: string; username: string; roles: string[] };
    expect(body.sub).toBe("u-alice");
    expect(body.username).toBe("alice");
    expect([...body.roles].sort()).toEqual(["/staff", "admin", "editor", "user"]);
  });

  it("required() answers 401 JSON with a Bearer challenge and never runs the handler", async () => {
    const before = reached.length;
    const missing = await fetch(`${base}/me`);
    await expectJsonError(missing, 401, "invalid_token");
    expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="oidc-auth"');
    const invalid = await fetch(`${base}/me`, bearer(`${alice}x`));
    await expectJsonError(invalid, 401, "invalid_token");
    expect(invalid.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);
    const inQuery = await fetch(`${base}/me?access_token=${alice}`);
    await expectJsonError(inQuery, [400, 401]);
    expect(reached.length).toBe(before);
  });

  it("required({ scopes }) answers 403 insufficient_scope JSON", async () => {
    const before = reached.length;
    const response = await fetch(`${base}/api-scope`, bearer(alice));
    await expectJsonError(response, 403, "insufficient_scope");
    expect(response.headers.get("www-authenticate")).toMatch(/scope="api"/);
    expect(reached.length).toBe(before);
    const withApi = await idp.mintAccessToken("bob", { scope: "openid api" });
    const allowed = await fetch(`${base}/api-scope`, bearer(withApi));
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toBe("u-bob");
  });

  it("required({ claims }) answers 403 access_denied JSON", async () => {
    await expectJsonError(await fetch(`${base}/admin`, bearer(bob)), 403, "access_denied");
    const allowed = await fetch(`${base}/admin`, bearer(alice));
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toBe("hi alice");
  });

  it("optional() sets req.auth to the token when valid and to null otherwise", async () => {
    const hello = async (init: RequestInit, path = "/hello") =>
      (await (await fetch(`${base}${path}`, init)).json()) as { sub: string | null };
    expect(await hello(bearer(alice))).toEqual({ sub: "u-alice" });
    expect(await hello({})).toEqual({ sub: null });
    expect(await hello(bearer("not-a-jwt"))).toEqual({ sub: null });
    expect(await hello({ headers: { authorization: `Basic ${btoa("a:b")}` } })).toEqual({
      sub: null,
    });
    expect(await hello(bearer(alice), "/hello-api")).toEqual({ sub: null });
  });

  it("leaves the request body to the route's body parser", async () => {
    const response = await fetch(`${base}/echo`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" },
      body: JSON.stringify({ note: "kept" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: "u-alice", body: { note: "kept" } });
  });
});

describe("the IdP down", () => {
  it("required() answers 503 JSON and optional() null", async () => {
    const down = await startDevIdp();
    const token = await down.mintAccessToken("alice");
    await down.stop();
    const auth = new ExpressOIDCAuth(options({ discoveryUrl: down.discoveryUrl }));
    const app = express();
    let reached = false;
    app.get("/me", auth.required(), (_req, res) => {
      reached = true;
      res.send("ok");
    });
    app.get("/hello", auth.optional(), (req, res) => {
      res.json({ sub: req.auth?.sub ?? null });
    });
    const base = await serve(app);
    const response = await fetch(`${base}/me`, bearer(token));
    await expectJsonError(response, 503, "temporarily_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
    expect(reached).toBe(false);
    const hello = await fetch(`${base}/hello`, bearer(token));
    expect(hello.status).toBe(200);
    expect(await hello.json()).toEqual({ sub: null });
  });
});

describe("errors downstream of the guards", () => {
  let base: string;

  beforeAll(async () => {
    const auth = new ExpressOIDCAuth(options());
    const app = express();
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
    app.use(
      (err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).json({ caught: err.message });
      },
    );
    base = await serve(app);
  });

  it("required() does not turn a failing handler into a 401", async () => {
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/sync`, bearer(alice)); // a cache miss, then a hit
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ caught: "handler failed" });
      expect(response.headers.get("www-authenticate")).toBeNull();
    }
  });

  it("required() does not turn a failing async handler into a 401", async () => {
    const response = await fetch(`${base}/async`, bearer(alice));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ caught: "async handler failed" });
  });

  it("optional() lets a failing handler's error reach the app", async () => {
    const response = await fetch(`${base}/optional`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ caught: "optional handler failed" });
  });

  it("still refuses a bad token before the handler runs", async () => {
    await expectJsonError(await fetch(`${base}/sync`), 401, "invalid_token");
  });
});
