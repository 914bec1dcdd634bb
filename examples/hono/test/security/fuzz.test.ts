/**
 * Property-based fuzzing of every endpoint and both guards through the Hono example:
 * random methods, paths, headers, query strings, bodies and tokens. The property: the
 * answer is never a 5xx (the IdP is up), and every 4xx is a JSON error. CI runs a bounded
 * number of cases; `pnpm fuzz` (FUZZ_RUNS=…) runs more.
 */
import fc from "fast-check";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../support.js";
import { AppBrowser, loginTokens, startStack } from "../support.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

const PATHS = [
  "/api/auth/v2/login",
  "/api/auth/v2/callback",
  "/api/auth/v2/token",
  "/api/auth/v2/device",
  "/api/auth/v2/logout",
  "/api/auth/v2/userinfo",
  "/api/auth/v2/.well-known/jwks.json",
  "/api/me",
  "/api/hello",
  "/api/admin",
  "/api/email-scope",
  "/api/auth/v2/backchannel-logout",
  "/profile",
  "/profile/hello",
];
const PARAMS = [
  "redirect_uri",
  "prompt",
  "offline_access",
  "scope",
  "code_challenge",
  "code_challenge_method",
  "state",
  "code",
  "error",
  "iss",
  "grant_type",
  "refresh-token",
  "refresh_token",
  "device-code",
  "device_code",
  "code_verifier",
  "subject_token",
  "subject_token_type",
  "post_logout_redirect_uri",
  "access_token",
  "return_to",
  "logout_token",
  "csrf_token",
];

const b64 = (s: string) => Buffer.from(s).toString("base64url");
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    "true",
    "false",
    "none",
    "S256",
    "plain",
    "openid",
    "openid admin",
    "http://127.0.0.1:1/cb",
  ),
  fc.webUrl(),
);

/** A valid token spelt otherwise: the encodings the guard's pre-check refuses. */
function respelt(valid: string[]) {
  return fc
    .tuple(
      fc.constantFrom(...valid.filter((t) => t.split(".").length === 3)),
      fc.constantFrom("padding", "trailing bits", "bom", "zip header", "deep", "1e309"),
    )
    .map(([token, how]) => {
      const [h, p, sig] = token.split(".") as [string, string, string];
      switch (how) {
        case "padding":
          return `${token}=`;
        case "trailing bits":
          return `${h}.${p}.${sig.slice(0, -1)}${sig.endsWith("B") ? "C" : "B"}`;
        case "bom":
          return `${h}.77u_${p}.${sig}`;
        case "zip header":
          return `${b64(JSON.stringify({ alg: "RS256", zip: "DEF" }))}.${p}.${sig}`;
        case "deep":
          return `${h}.${b64(`{"sub":"x","d":${"[".repeat(2500)}${"]".repeat(2500)}}`)}.${sig}`;
        default:
          return `${h}.${b64('{"sub":"x","exp":1e309,"iat":-1e309}')}.${sig}`;
      }
    });
}

function tokens(valid: string[], hostile: string[]) {
  return fc.oneof(
    respelt(valid),
    fc.constantFrom(...hostile),
    fc.string({ maxLength: 60 }),
    fc.constantFrom(...valid),
    fc
      .tuple(fc.json(), fc.json(), fc.string({ maxLength: 30 }))
      .map(([h, p, s]) => `${b64(h)}.${b64(p)}.${s}`),
    fc
      .record({
        alg: fc.constantFrom("RS256", "HS256", "none", "ES256", "RSA-OAEP"),
        kid: fc.string(),
        typ: fc.string(),
      })
      .map(
        (h) => `${b64(JSON.stringify(h))}.${valid[0]?.split(".")[1]}.${valid[0]?.split(".")[2]}`,
      ),
    fc.constantFrom(...valid).map((t) => `${t.slice(0, -3)}abc`),
  );
}

/** Session cookies: a real one as is, cut, with a flipped character, in chunks, or made up. */
function sessionCookies(real: string[]) {
  return fc.oneof(
    fc.constantFrom(...real),
    fc.constantFrom(...real).map((c) => c.slice(0, -7)),
    fc
      .constantFrom(...real)
      .map((c) => `${c.slice(0, 60)}${c[60] === "A" ? "B" : "A"}${c.slice(61)}`),
    fc.tuple(fc.constantFrom(...real), fc.nat({ max: 400 })).map(([c, at]) => {
      const value = c.slice(c.indexOf("=") + 1);
      return `oidc_auth_session.0=${value.slice(0, at)}; oidc_auth_session.1=${value.slice(at)}`;
    }),
    fc.string({ maxLength: 80 }).map((v) => `oidc_auth_session=${v}`),
    fc.string({ maxLength: 80 }).map((v) => `oidc_auth_session.0=${v}; oidc_auth_session.3=${v}`),
  );
}

function requests(baseUrl: string, valid: string[], hostile: string[], sessions: string[]) {
  return fc
    .record({
      method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"),
      path: fc.oneof(
        fc.constantFrom(...PATHS),
        fc.constantFrom(...PATHS).map((p) => `${p}/x`),
      ),
      query: fc.dictionary(
        fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 8 })),
        anyText,
        {
          maxKeys: 5,
        },
      ),
      authorization: fc.option(
        fc.oneof(
          tokens(valid, hostile).map((t) => `Bearer ${t}`),
          fc.string({ maxLength: 40 }),
          tokens(valid, hostile).map((t) => `bearer  ${t} x`),
        ),
      ),
      cookie: fc.option(
        fc.oneof(
          fc.string({ maxLength: 60 }).map((v) => `oidc_auth_tx=${v}`),
          fc.string({ maxLength: 60 }),
          sessionCookies(sessions),
        ),
      ),
      origin: fc.option(fc.constantFrom("https://evil.example", "null", baseUrl)),
      contentType: fc.option(
        fc.constantFrom(
          "application/x-www-form-urlencoded",
          "application/json",
          "text/plain",
          "multipart/form-data",
          "x/y; charset=bogus",
        ),
      ),
      body: fc.option(
        fc.oneof(
          fc
            .dictionary(
              fc.oneof(fc.constantFrom(...PARAMS), fc.string({ maxLength: 8 })),
              fc.oneof(anyText, tokens(valid, hostile)),
              {
                maxKeys: 6,
              },
            )
            .map((d) => new URLSearchParams(d).toString()),
          fc.json(),
          fc.string({ maxLength: 200 }),
        ),
      ),
    })
    .map((r) => {
      const url = new URL(`${baseUrl}${r.path}`);
      for (const [k, v] of Object.entries(r.query)) url.searchParams.append(k, v);
      const headers: Record<string, string> = {};
      if (r.authorization !== null)
        headers.authorization = r.authorization.replace(/[\r\n\0]/g, "");
      if (r.cookie !== null) headers.cookie = r.cookie.replace(/[^\x20-\x7e]/g, "");
      if (r.contentType !== null) headers["content-type"] = r.contentType;
      if (r.origin !== null) headers.origin = r.origin;
      const init: RequestInit = { method: r.method, headers, redirect: "manual" };
      if (r.body !== null && r.method !== "GET") init.body = r.body;
      return { url: url.href, init, describe: `${r.method} ${url.pathname}${url.search}` };
    });
}

async function checkAnswer(url: string, init: RequestInit, label: string) {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    // the client refused to send it (e.g. a header value it will not encode): nothing reached the server
    if (err instanceof TypeError) return;
    throw err;
  }
  expect(response.status, label).toBeLessThan(500);
  if (response.status >= 400) {
    expect(response.headers.get("content-type") ?? "", label).toMatch(/application\/json/);
    const body = (await response.json()) as Record<string, unknown>;
    expect(typeof body.error, label).toBe("string");
    expect(JSON.stringify(body), label).not.toMatch(/\bat .+\.(ts|js):\d+/);
  } else {
    await response.arrayBuffer();
  }
}

for (const mode of ["passthrough", "broker"] as const) {
  describe(`fuzzing the Hono example (${mode} mode)`, () => {
    let stack: Stack;
    const valid: string[] = [];
    /** Signed by the IdP, refused by the guard: the strictness rules of issue 11. */
    const hostile: string[] = [];
    /** Cookie headers of real browser sessions. */
    const sessions: string[] = [];
    beforeAll(async () => {
      stack = await startStack({
        env:
          mode === "broker" ? { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" } : {},
      });
      const login = await loginTokens(stack);
      valid.push(
        login.access_token,
        login.refresh_token as string,
        await stack.idp.mintAccessToken("bob"),
      );
      const browser = new AppBrowser(stack);
      await browser.signIn();
      sessions.push(browser.cookieHeader());
      const claims = decodeJwt(valid[2] as string);
      const nested = (depth: number): unknown => (depth === 0 ? 1 : [nested(depth - 1)]);
      hostile.push(
        await stack.idp.signJwt({ ...claims, zip: "DEF" }, { zip: "DEF" }),
        await stack.idp.signJwt({ ...claims, iat: (claims.iat ?? 0) + 3600 }),
        await stack.idp.signJwt({ ...claims, sub: "" }),
        await stack.idp.signJwt({ ...claims, sub: "s".repeat(2000) }),
        await stack.idp.signJwt({ ...claims, deep: nested(200) }),
        await stack.idp.signJwt({ ...claims, exp: (claims.exp ?? 0) + 0.5 }),
        await stack.idp.signJwt(
          { ...claims, nonce: "n", aud: "oidc-auth-demo" },
          { typ: undefined },
        ),
      );
    });
    afterAll(async () => {
      await stack?.close();
    });

    it(`answers ${RUNS} random requests without a 5xx, every error as JSON`, async () => {
      await fc.assert(
        fc.asyncProperty(
          requests(stack.url, valid, hostile, sessions),
          async ({ url, init, describe: label }) => {
            await checkAnswer(url, init, label);
          },
        ),
        {
          numRuns: RUNS,
          seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31),
          endOnFailure: true,
        },
      );
    }, 120_000);
  });
}
