/**
 * The server of the HTTP benchmark, run in its own process: Hono on @hono/node-server on
 * 127.0.0.1, one route per contender. Prints `READY <url>` when it listens.
 *
 * Environment: BENCH_DISCOVERY_URL, BENCH_AUDIENCE, BENCH_ISSUER, BENCH_JWKS_URI,
 * BENCH_JWK (the IdP's public key as JSON), BENCH_MISS_CACHE_SIZE.
 */
import { hash } from "node:crypto";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { HonoOIDCAuth, silentLogger } from "@oidc-auth/hono";
import type { MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { jwk as honoJwk } from "hono/jwk";
import type { JwtVariables } from "hono/jwt";
import type { HonoJsonWebKey } from "hono/utils/jwt/jws";
import type { JWK } from "jose";
import { importJWK, jwtVerify } from "jose";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const discoveryUrl = required("BENCH_DISCOVERY_URL");
const audience = required("BENCH_AUDIENCE");
const issuer = required("BENCH_ISSUER");
const jwksUri = required("BENCH_JWKS_URI");
const publicJwk = JSON.parse(required("BENCH_JWK")) as JWK;
const missCacheSize = Number(required("BENCH_MISS_CACHE_SIZE"));

const options = { clientId: "oidc-auth-demo", discoveryUrl, audience, logger: silentLogger };
/** The guard as an app uses it: default cache. */
const auth = new HonoOIDCAuth(options);
/** The same guard with a cache smaller than the set of rotating tokens: every request misses. */
const missAuth = new HonoOIDCAuth({ ...options, tokenCacheSize: missCacheSize });
/** The same guard without a verified-token cache. */
const noCacheAuth = new HonoOIDCAuth({ ...options, tokenCacheSize: 0 });
/** Bare jose: the key imported once, the same claim checks the guard makes. */
const joseKey = await importJWK(publicJwk, "RS256");
const joseOptions = {
  issuer,
  audience,
  algorithms: ["RS256"],
  requiredClaims: ["exp", "iat", "sub"],
};

const app = new Hono();
/** hono/jwk's routes: their own app, for its context variable `jwtPayload`. */
const jwkApp = new Hono<{ Variables: JwtVariables<{ sub: string }> }>();
app.get("/public", (c) => c.json({ sub: "anonymous" }));
/** The least any guard middleware costs: Hono's middleware dispatch and reading the header. */
const floor: MiddlewareHandler<{ Variables: { sub: string } }> = async (c, next) => {
  c.set("sub", c.req.header("authorization") ? "someone" : "nobody");
  await next();
};
app.get("/floor", floor, (c) => c.json({ sub: c.get("sub") }));
/**
 * The least a cache keyed by a hash of the token costs: a synchronous handler that reads
 * the header and SHA-256s the token (node:crypto, as the guard on Node), nothing else.
 */
app.get("/hash-floor", (c) => {
  const header = c.req.header("authorization") ?? "";
  return c.json({ sub: hash("sha256", header.slice(7), "base64") ? "someone" : "nobody" });
});
app.get("/guard", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
app.get("/guard-miss", missAuth.required(), (c) => c.json({ sub: c.get("token").sub }));
/** The same guards wrapping the handler: a cache hit keeps the route synchronous. */
app.get(
  "/guard-wrap",
  auth.required((c) => c.json({ sub: c.get("token").sub })),
);
app.get(
  "/guard-wrap-miss",
  missAuth.required((c) => c.json({ sub: c.get("token").sub })),
);
/** The miss route without the cache: what the cache's bookkeeping costs on a miss. */
app.get(
  "/guard-wrap-nocache",
  noCacheAuth.required((c) => c.json({ sub: c.get("token").sub })),
);
app.get("/jose", async (c) => {
  const header = c.req.header("authorization");
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  if (!token) return c.json({ error: "invalid_token" }, 401);
  try {
    const { payload } = await jwtVerify(token, joseKey, joseOptions);
    return c.json({ sub: payload.sub });
  } catch {
    return c.json({ error: "invalid_token" }, 401);
  }
});
const verification = { iss: issuer, aud: audience, typ: "at+jwt" };
jwkApp.get("/hono-jwk", honoJwk({ jwks_uri: jwksUri, alg: ["RS256"], verification }), (c) =>
  c.json({ sub: c.get("jwtPayload").sub }),
);
jwkApp.get(
  "/hono-jwk-keys",
  honoJwk({ keys: [publicJwk as HonoJsonWebKey], alg: ["RS256"], verification }),
  (c) => c.json({ sub: c.get("jwtPayload").sub }),
);
app.route("/", jwkApp);
app.get("/stats", (c) => {
  const { user, system } = process.cpuUsage();
  return c.json({
    guard: auth.tokenCacheStats,
    miss: missAuth.tokenCacheStats,
    cpuUs: user + system,
  });
});

const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info: AddressInfo) => {
  console.log(`READY http://127.0.0.1:${info.port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
