/**
 * One conformance suite for every adapter: the example contract (examples/hono/src/app.ts)
 * checked over HTTP against a real dev IdP, in passthrough and in broker mode.
 *
 * An adapter's test file calls {@link describeConformance} with a function that starts its
 * example configured only by environment variables (the `OIDC_*` ones below; the example
 * picks its own port on 127.0.0.1 and answers its base URL).
 */

import { createServer, type Server } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenJson } from "./assertions.js";
import { expectJsonError } from "./assertions.js";

export type { TokenJson };

/** A running example app. */
export interface RunningExample {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts an example configured by `env` (OIDC_* variables) on 127.0.0.1 and a free port of
 * its choice. Like a deployment, it also sets what depends on its URL: `OIDC_PROXY` = its
 * base URL (broker mode in production refuses to start without it) and
 * `OIDC_REDIRECT_URIS` = its `/callback` page.
 */
export type StartExample = (env: Record<string, string>) => Promise<RunningExample>;

/** The token answer of the auth endpoints. */

type Mode = "passthrough" | "broker";

/** Registers one test (vitest's `it`). */
type TestRegistrar = (title: string, fn: () => Promise<void>, timeout?: number) => void;

/** Sealing secret of the examples under test (any 32+ characters). */
export const CONFORMANCE_SECRET = "conformance-secret-conformance-secret-01";

/** `aud` of the broker tokens of the examples under test. */
export const BROKER_AUDIENCE = "oidc-auth-conformance";

/** Starting an example may build or spawn a server: hooks that start one get this long. */
const START_TIMEOUT_MS = 240_000;

/** The environment an example gets for `mode`, against `idp`. */
export function exampleEnv(idp: DevIdp, mode: Mode): Record<string, string> {
  const client = idp.clients.find((c) => c.clientSecret) ?? idp.clients[0];
  const env: Record<string, string> = {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: client?.clientId ?? "",
    OIDC_CLIENT_SECRET: client?.clientSecret ?? "",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: CONFORMANCE_SECRET,
    // the example's URL (and so its own callback page) is known only once it listens
    OIDC_ALLOW_LOOPBACK_REDIRECTS: "true",
  };
  if (mode === "broker") {
    env.OIDC_BROKER_MODE = "true";
    env.OIDC_BROKER_STORE_URL = "memory://";
    env.OIDC_BROKER_AUDIENCE = BROKER_AUDIENCE;
  }
  return env;
}

/** The first cookie of a response's Set-Cookie header, as a Cookie header value. */
export function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie");
  if (!header) throw new Error("no Set-Cookie in the response");
  return header.split(";")[0] as string;
}

/** GET with a bearer token (none when `token` is undefined). */
export function getWithToken(url: string, token: string | undefined): Promise<Response> {
  return fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
}

/** POSTs a form to an example's token endpoint. */
export function postToken(base: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${base}/api/auth/v2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
}

/** A browser login up to the IdP's redirect back: the callback URL and this browser's cookie. */
export async function loginAtIdp(
  base: string,
  idp: DevIdp,
  username = "alice",
  query: Record<string, string> = {},
) {
  const params = new URLSearchParams({ redirect_uri: `${base}/callback`, ...query });
  const login = await fetch(`${base}/api/auth/v2/login?${params}`, { redirect: "manual" });
  if (login.status !== 302) {
    throw new Error(`login answered ${login.status}: ${await login.text()}`);
  }
  const authorizationUrl = login.headers.get("location") as string;
  const password = idp.users.find((u) => u.username === username)?.password;
  const redirect = await idp.completeLogin(authorizationUrl, username, password);
  return {
    login,
    authorizationUrl,
    cookie: cookieOf(login),
    callbackUrl: `${base}/api/auth/v2/callback${redirect.search}`,
  };
}

/** A whole browser login (login → IdP login form → callback): the token answer. */
export async function loginTokens(
  base: string,
  idp: DevIdp,
  username = "alice",
  query: Record<string, string> = {},
): Promise<TokenJson> {
  const { callbackUrl, cookie } = await loginAtIdp(base, idp, username, query);
  const response = await fetch(callbackUrl, { headers: { cookie } });
  if (response.status !== 200) {
    throw new Error(`callback answered ${response.status}: ${await response.text()}`);
  }
  return (await response.json()) as TokenJson;
}

/** An error answer: the status, JSON `{error, error_description}`, never a 5xx on bad input. */

function expectTokenAnswer(body: TokenJson) {
  const now = Math.floor(Date.now() / 1000);
  expect(body.token_type).toBe("Bearer");
  expect(typeof body.access_token).toBe("string");
  expect(body.expires_in).toBeGreaterThan(0);
  expect(Math.abs(body.expires - (now + body.expires_in))).toBeLessThanOrEqual(5);
  expect(typeof body.refresh_token).toBe("string");
  expect(body.refresh_expires).toBeGreaterThan(now);
  expect(body.scope.split(" ")).toEqual(expect.arrayContaining(["openid", "profile"]));
}

/**
 * Registers the conformance suite of one adapter: the guard table (DESIGN §4) and the
 * endpoints (DESIGN §3) in passthrough and broker mode, and the IdP unreachable.
 *
 * @example
 * ```ts
 * // examples/<adapter>/test/conformance.test.ts
 * import { describeConformance } from "../../../test-support/conformance.js";
 * import { startExample } from "./start.js";
 * describeConformance("next", startExample);
 * ```
 */
export function describeConformance(adapterName: string, startExample: StartExample): void {
  const test: TestRegistrar = (title, fn, timeout) => it(title, fn, timeout);
  describe(`${adapterName}: the example contract`, () => {
    let idp: DevIdp;
    beforeAll(async () => {
      idp = await startDevIdp();
    });
    afterAll(async () => {
      await idp?.stop();
    });

    for (const mode of ["passthrough", "broker"] as const) {
      describe(`${mode} mode`, () => {
        let app: RunningExample;
        beforeAll(async () => {
          app = await startExample(exampleEnv(idp, mode));
        }, START_TIMEOUT_MS);
        afterAll(async () => {
          await app?.close();
        });
        describeGuardTable(
          test,
          mode,
          () => app.url,
          () => idp,
        );
        describeEndpoints(
          test,
          mode,
          () => app.url,
          () => idp,
        );
      });
    }

    describeIdpUnreachable(test, startExample);
  });
}

/** The tokens the guard table starts from, all from real logins through the example. */
interface GuardFixtures {
  /** alice, scopes openid profile email (+offline_access). */
  valid: string;
  claims: Record<string, unknown>;
  kid: string;
  /** bob: no admin role, not in /staff. */
  bob: string;
  /** alice without the email scope. */
  withoutEmail: string;
}

function describeGuardTable(
  test: TestRegistrar,
  mode: Mode,
  base: () => string,
  idpOf: () => DevIdp,
) {
  describe("the guard table: /api/me required, /api/hello optional", () => {
    let f: GuardFixtures;
    let attackerKey: CryptoKey;

    beforeAll(async () => {
      const idp = idpOf();
      const alice = await loginTokens(base(), idp, "alice");
      const bob = await loginTokens(base(), idp, "bob");
      const withoutEmail = await loginTokens(base(), idp, "alice", { scope: "profile" });
      f = {
        valid: alice.access_token,
        claims: decodeJwt(alice.access_token) as Record<string, unknown>,
        kid: decodeProtectedHeader(alice.access_token).kid as string,
        bob: bob.access_token,
        withoutEmail: withoutEmail.access_token,
      };
      attackerKey = (await generateKeyPair("RS256")).privateKey;
    });

    const me = () => `${base()}/api/me`;
    const hello = () => `${base()}/api/hello`;

    /** The valid token's claims, changed, signed by an attacker's key under the real kid. */
    const attackerSigned = (changes: Record<string, unknown> = {}) =>
      new SignJWT({ ...f.claims, ...changes })
        .setProtectedHeader({ alg: "RS256", kid: f.kid, typ: "at+jwt" })
        .sign(attackerKey);

    /**
     * The valid token's claims, changed, with a signature the app would otherwise accept:
     * the IdP's real key in passthrough mode. A broker's key never leaves the example, so in
     * broker mode the change is forged with an attacker's key (and refused for that too).
     */
    const resigned = (changes: Record<string, unknown>) =>
      mode === "passthrough"
        ? idpOf().signJwt({ ...f.claims, ...changes })
        : attackerSigned(changes);

    /** required → 401 invalid_token JSON with a Bearer challenge; optional → anonymous. */
    async function expectRefused(authorization: string | undefined) {
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      const response = await fetch(me(), { headers });
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
      const body = await expectJsonError(response, 401, "invalid_token");
      const anonymous = await fetch(hello(), { headers });
      expect(anonymous.status).toBe(200);
      expect(await anonymous.json()).toEqual({ hello: "anonymous" });
      return body;
    }

    test("accepts a valid token in both guards", async () => {
      const response = await getWithToken(me(), f.valid);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ preferred_username: "alice", email: "alice@example.org" });
      expect(body.roles).toEqual(expect.arrayContaining(["admin", "/staff"]));
      expect(await (await getWithToken(hello(), f.valid)).json()).toEqual({ hello: "alice" });
      const anyCase = await fetch(me(), { headers: { authorization: `bEaReR ${f.valid}` } });
      expect(anyCase.status).toBe(200);
    });

    test("no Authorization header: 401 with a Bearer challenge; optional: anonymous", async () => {
      await expectRefused(undefined);
    });

    test("a non-Bearer Authorization header: 401; optional: anonymous", async () => {
      await expectRefused(`Basic ${btoa("alice:alice-password")}`);
      await expectRefused(`Token ${f.valid}`);
      await expectRefused(`Bearer ${f.valid} ${f.valid}`);
    });

    test("a malformed token: 401 invalid_token; optional: anonymous", async () => {
      await expectRefused("Bearer not-a-jwt");
      await expectRefused("Bearer a.b.c");
      await expectRefused(`Bearer ${f.valid.split(".").slice(0, 2).join(".")}.`);
      await expectRefused(`Bearer ${btoa("{").replace(/=/g, "")}.e30.sig`);
    });

    test("a bad signature: 401 invalid_token; optional: anonymous", async () => {
      await expectRefused(`Bearer ${await attackerSigned()}`);
      // the real header and signature over a changed payload
      const [header, , signature] = f.valid.split(".");
      const payload = btoa(JSON.stringify({ ...f.claims, preferred_username: "mallory" }))
        .replace(/=+$/, "")
        .replace(/\+/g, "-")
        .replace(/\//g, "_");
      await expectRefused(`Bearer ${header}.${payload}.${signature}`);
    });

    test("an expired token: 401 invalid_token; optional: anonymous", async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(`Bearer ${await resigned({ iat: now - 7200, exp: now - 3600 })}`);
    });

    test("a wrong issuer: 401 invalid_token; optional: anonymous", async () => {
      await expectRefused(`Bearer ${await resigned({ iss: "http://127.0.0.1:1/evil" })}`);
      await expectRefused(`Bearer ${await resigned({ iss: `${String(f.claims.iss)}/` })}`);
      if (mode === "broker") {
        // the IdP's own access token: a real signature of another issuer
        await expectRefused(`Bearer ${await idpOf().mintAccessToken("alice")}`);
      }
    });

    test("a wrong audience: 401 invalid_token; optional: anonymous", async () => {
      await expectRefused(`Bearer ${await resigned({ aud: `${String(f.claims.aud)}x` })}`);
      await expectRefused(`Bearer ${await resigned({ aud: "another-api" })}`);
      if (mode === "passthrough") {
        const foreign = await idpOf().mintAccessToken("alice", { audience: "another-api" });
        await expectRefused(`Bearer ${foreign}`);
      }
    });

    test("an algorithm that is not allowed (none, HS256): 401; optional: anonymous", async () => {
      await expectRefused(`Bearer ${new UnsecuredJWT(f.claims).encode()}`);
      const hs256 = await new SignJWT(f.claims)
        .setProtectedHeader({ alg: "HS256", kid: f.kid, typ: "at+jwt" })
        .sign(new TextEncoder().encode("a-guessable-shared-secret-of-32-bytes!"));
      await expectRefused(`Bearer ${hs256}`);
    });

    test("a valid token without the required scope: 403 insufficient_scope", async () => {
      expect(decodeJwt(f.withoutEmail).scope).not.toMatch(/\bemail\b/);
      const refused = await getWithToken(`${base()}/api/email-scope`, f.withoutEmail);
      expect(refused.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
      await expectJsonError(refused, 403, "insufficient_scope");
      const allowed = await getWithToken(`${base()}/api/email-scope`, f.valid);
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ email: "alice@example.org" });
    });

    test("a valid token whose claims fail the constraint: 403 access_denied", async () => {
      await expectJsonError(await getWithToken(`${base()}/api/admin`, f.bob), 403, "access_denied");
      expect((await getWithToken(`${base()}/api/admin`, f.valid)).status).toBe(200);
      // the optional guard has no constraint: bob is simply bob there
      expect(await (await getWithToken(hello(), f.bob)).json()).toEqual({ hello: "bob" });
    });

    test("nested claims (/api/staff): every key must match", async () => {
      await expectJsonError(await getWithToken(`${base()}/api/staff`, f.bob), 403, "access_denied");
      if (mode === "passthrough") {
        expect((await getWithToken(`${base()}/api/staff`, f.valid)).status).toBe(200);
        // admin in the realm but not in /staff: one key fails, so the whole constraint fails
        const notStaff = await resigned({ groups: ["/guests"] });
        await expectJsonError(
          await getWithToken(`${base()}/api/staff`, notStaff),
          403,
          "access_denied",
        );
      }
    });

    if (mode === "broker") {
      it("nested claims (/api/staff) work on broker tokens too (the IdP's role claims travel in them)", async () => {
        const response = await getWithToken(`${base()}/api/staff`, f.valid);
        expect(response.status).toBe(200);
      });
    }
  });
}

function describeEndpoints(
  test: TestRegistrar,
  mode: Mode,
  base: () => string,
  idpOf: () => DevIdp,
) {
  describe("the endpoints", () => {
    test("logs in with code + PKCE: login → IdP login form → callback with the cookie", async () => {
      const idp = idpOf();
      const { login, authorizationUrl, cookie, callbackUrl } = await loginAtIdp(base(), idp);
      const location = new URL(authorizationUrl);
      expect(location.origin).toBe(idp.issuer);
      expect(location.searchParams.get("code_challenge_method")).toBe("S256");
      expect(location.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(location.searchParams.get("state")?.length).toBeGreaterThanOrEqual(32);
      expect(location.searchParams.get("nonce")?.length).toBeGreaterThanOrEqual(32);
      expect(location.searchParams.get("redirect_uri")).toBe(`${base()}/callback`);
      expect(authorizationUrl).not.toContain("code_verifier");
      const setCookie = login.headers.get("set-cookie") as string;
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Lax/i);

      const callback = await fetch(callbackUrl, { headers: { cookie } });
      expect(callback.status).toBe(200);
      expect(callback.headers.get("cache-control")).toBe("no-store");
      expect(callback.headers.get("set-cookie")).toMatch(/Max-Age=0/);
      const tokens = (await callback.json()) as TokenJson;
      expectTokenAnswer(tokens);
      const claims = decodeJwt(tokens.access_token);
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe("at+jwt");
      if (mode === "passthrough") {
        expect(claims).toMatchObject({ iss: idp.issuer, aud: idp.audience });
      } else {
        expect(claims).toMatchObject({ iss: base(), aud: BROKER_AUDIENCE, sub: "u-alice" });
      }
      const meResponse = await getWithToken(`${base()}/api/me`, tokens.access_token);
      expect(meResponse.status).toBe(200);
      expect(await meResponse.json()).toMatchObject({
        sub: "u-alice",
        preferred_username: "alice",
      });
    });

    test("refreshes with refresh-token", async () => {
      const first = await loginTokens(base(), idpOf());
      const response = await postToken(base(), {
        "refresh-token": first.refresh_token as string,
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const second = (await response.json()) as TokenJson;
      expectTokenAnswer(second);
      expect(second.access_token).not.toBe(first.access_token);
      const meResponse = await getWithToken(`${base()}/api/me`, second.access_token);
      expect(meResponse.status).toBe(200);
    });

    test("runs the device flow: start → authorization_pending → approval → token", async () => {
      const start = await fetch(`${base()}/api/auth/v2/device`, { method: "POST" });
      expect(start.status).toBe(200);
      const device = (await start.json()) as Record<string, unknown>;
      expect(Object.keys(device)).toEqual(
        expect.arrayContaining([
          "device_code",
          "user_code",
          "verification_uri",
          "expires_in",
          "interval",
        ]),
      );
      expect(String(device.verification_uri).startsWith(idpOf().issuer)).toBe(true);
      const pending = await postToken(base(), { "device-code": String(device.device_code) });
      await expectJsonError(pending, 400, "authorization_pending");

      await idpOf().approveDevice(String(device.user_code), "bob", "bob-password");
      // a poll sooner than the granted interval gets slow_down without reaching the IdP
      await expectJsonError(
        await postToken(base(), { "device-code": String(device.device_code) }),
        400,
        "slow_down",
      );
      // after slow_down the interval is 5 s longer (RFC 8628 §3.5)
      await new Promise((r) => setTimeout(r, (Number(device.interval) + 5) * 1000));
      const done = await postToken(base(), { "device-code": String(device.device_code) });
      expect(done.status).toBe(200);
      const tokens = (await done.json()) as TokenJson;
      expectTokenAnswer(tokens);
      const meResponse = await getWithToken(`${base()}/api/me`, tokens.access_token);
      expect(await meResponse.json()).toMatchObject({ preferred_username: "bob" });
    });

    test("answers userinfo: username, first_name, last_name, pw_name, email", async () => {
      const tokens = await loginTokens(base(), idpOf());
      const response = await getWithToken(`${base()}/api/auth/v2/userinfo`, tokens.access_token);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        username: "alice",
        first_name: "Alice",
        last_name: "Liddell",
        pw_name: "alice",
        email: "alice@example.org",
      });
      const anonymous = await fetch(`${base()}/api/auth/v2/userinfo`);
      expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
      await expectJsonError(anonymous, 401, "invalid_token");
    });

    test("logs out through the IdP's end_session endpoint: GET redirects, POST with the bearer also revokes", async () => {
      const idp = idpOf();
      const tokens = await loginTokens(base(), idp);
      const target = `${base()}/`;
      const logoutUrl = `${base()}/api/auth/v2/logout?post_logout_redirect_uri=${encodeURIComponent(target)}`;
      const bearer = { authorization: `Bearer ${tokens.access_token}` };
      // a GET (a link, an image, another site) never ends a session, bearer or not
      const viaGet = await fetch(logoutUrl, { redirect: "manual", headers: bearer });
      expect(viaGet.status).toBe(302);
      const response = await fetch(logoutUrl, {
        method: "POST",
        redirect: "manual",
        headers: bearer,
      });
      expect(response.status).toBe(303);
      for (const answer of [viaGet, response]) {
        const location = new URL(answer.headers.get("location") as string);
        const discovery = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, string>;
        expect(`${location.origin}${location.pathname}`).toBe(discovery.end_session_endpoint);
        expect(location.searchParams.get("client_id")).toBe("oidc-auth-demo");
        expect(location.searchParams.get("post_logout_redirect_uri")).toBe(target);
        expect(location.searchParams.get("state")?.length).toBeGreaterThanOrEqual(32);
        expect((await idp.completeLogout(location.href)).href.startsWith(target)).toBe(true);
      }
      if (mode === "broker") {
        const refresh = await postToken(base(), {
          "refresh-token": tokens.refresh_token as string,
        });
        await expectJsonError(refresh, 400, "invalid_grant");
      }
    });

    test("a browser-session login: the cookie authenticates the API routes, cross-site POSTs are refused, logout ends it", async () => {
      const idp = idpOf();
      const origin = new URL(base()).origin;
      const login = await fetch(`${base()}/api/auth/v2/login?return_to=%2Fapi%2Fme`, {
        redirect: "manual",
      });
      expect(login.status).toBe(302);
      const authorizationUrl = login.headers.get("location") as string;
      // The app's own callback, wherever the adapter mounts it: never a caller's choice.
      expect(new URL(authorizationUrl).searchParams.get("redirect_uri")).toBe(
        `${base()}/api/auth/v2/callback`,
      );
      const back = await idp.completeLogin(authorizationUrl, "alice", "alice-password");
      const callback = await fetch(`${base()}/api/auth/v2/callback${back.search}`, {
        redirect: "manual",
        headers: { cookie: cookieOf(login) },
      });
      expect(callback.status).toBe(303);
      expect(callback.headers.get("location")).toBe("/api/me");
      const session = callback.headers
        .getSetCookie()
        .find((c) => c.startsWith("oidc_auth_session=")) as string;
      expect(session).toMatch(/HttpOnly/);
      expect(session).toMatch(/SameSite=Lax/);
      const cookie = session.split(";")[0] as string;
      expect(cookie).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);

      const me = await fetch(`${base()}/api/me`, { headers: { cookie } });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ sub: "u-alice", preferred_username: "alice" });
      const hello = await fetch(`${base()}/api/hello`, { headers: { cookie } });
      expect(await hello.json()).toMatchObject({ hello: "alice" });

      const logout = `${base()}/api/auth/v2/logout`;
      const form = { "content-type": "application/x-www-form-urlencoded" };
      const crossSite = await fetch(logout, {
        method: "POST",
        redirect: "manual",
        headers: { cookie, origin: "https://evil.example", ...form },
        body: "post_logout_redirect_uri=%2F",
      });
      await expectJsonError(crossSite, 403, "invalid_request");
      expect((await fetch(`${base()}/api/me`, { headers: { cookie } })).status).toBe(200);

      const own = await fetch(logout, {
        method: "POST",
        redirect: "manual",
        headers: { cookie, origin, ...form },
        body: "post_logout_redirect_uri=%2F",
      });
      expect(own.status).toBe(303);
      expect(own.headers.getSetCookie().join()).toMatch(/oidc_auth_session=; .*Max-Age=0/);
      const location = new URL(own.headers.get("location") as string);
      expect(location.searchParams.get("post_logout_redirect_uri")).toBe(`${base()}/`);
      // The old cookie is refused where the logout happened (and, in broker mode, everywhere).
      expect((await fetch(`${base()}/api/me`, { headers: { cookie } })).status).toBe(401);
    });

    describe("errors: JSON with `error` and the right status, never 500", () => {
      test("login with an empty redirect_uri, or one that is not allowed: 400", async () => {
        await expectJsonError(
          await fetch(`${base()}/api/auth/v2/login?redirect_uri=`, { redirect: "manual" }),
          400,
          "invalid_request",
        );
        const evil = encodeURIComponent("https://evil.example/callback");
        await expectJsonError(
          await fetch(`${base()}/api/auth/v2/login?redirect_uri=${evil}`, { redirect: "manual" }),
          400,
          "invalid_request",
        );
      });

      test("a callback with a forged state: 400, and the IdP is not asked", async () => {
        const idp = idpOf();
        const { callbackUrl, cookie } = await loginAtIdp(base(), idp);
        const forged = new URL(callbackUrl);
        forged.searchParams.set("state", "forged-state-forged-state-forged-state-0");
        const before = idp.hits.get("/token") ?? 0;
        await expectJsonError(await fetch(forged, { headers: { cookie } }), 400, "invalid_request");
        // and without the browser's cookie
        await expectJsonError(await fetch(callbackUrl), 400, "invalid_request");
        expect(idp.hits.get("/token") ?? 0).toBe(before);
      });

      test("a replayed callback: 400", async () => {
        const { callbackUrl, cookie } = await loginAtIdp(base(), idpOf());
        expect((await fetch(callbackUrl, { headers: { cookie } })).status).toBe(200);
        await expectJsonError(
          await fetch(callbackUrl, { headers: { cookie } }),
          400,
          "invalid_request",
        );
      });

      test("the IdP's error at the callback: 400", async () => {
        await expectJsonError(
          await fetch(`${base()}/api/auth/v2/callback?error=access_denied&state=x`),
          400,
          "access_denied",
        );
      });

      test("an unknown refresh token: 400 invalid_grant (RFC 6749 §5.2)", async () => {
        await expectJsonError(
          await postToken(base(), { "refresh-token": "not-a-refresh-token" }),
          400,
          "invalid_grant",
        );
      });

      test("a token request without a grant, or an unknown device code: 400", async () => {
        await expectJsonError(await postToken(base(), {}), 400, "invalid_request");
        await expectJsonError(
          await postToken(base(), { "device-code": "no-such-device-code" }),
          400,
          ["invalid_grant", "expired_token"],
        );
      });
    });
  });
}

function describeIdpUnreachable(test: TestRegistrar, startExample: StartExample) {
  describe("the IdP unreachable", () => {
    let dead: DevIdp;
    /** alice's token, signed by the IdP before it went away. */
    let token: string;
    /** Keeps the dead IdP's port taken (so no server started later can answer there). */
    let resetter: Server;
    beforeAll(async () => {
      dead = await startDevIdp();
      token = await dead.mintAccessToken("alice");
      await dead.stop();
      resetter = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve, reject) => {
        resetter.once("error", reject);
        resetter.listen(dead.port, "127.0.0.1", () => resolve());
      });
    });
    afterAll(async () => {
      await new Promise((resolve) => resetter?.close(resolve));
    });

    async function withExample(mode: Mode, check: (base: string) => Promise<void>) {
      const app = await startExample(exampleEnv(dead, mode));
      try {
        await check(app.url);
      } finally {
        await app.close();
      }
    }

    test(
      "passthrough: required 503, optional anonymous, login 503",
      () =>
        withExample("passthrough", async (base) => {
          await expectJsonError(
            await getWithToken(`${base}/api/me`, token),
            503,
            "temporarily_unavailable",
          );
          const anonymous = await getWithToken(`${base}/api/hello`, token);
          expect(await anonymous.json()).toEqual({ hello: "anonymous" });
          const login = await fetch(
            `${base}/api/auth/v2/login?redirect_uri=${encodeURIComponent(`${base}/callback`)}`,
            { redirect: "manual" },
          );
          await expectJsonError(login, 503, "temporarily_unavailable");
        }),
      START_TIMEOUT_MS,
    );

    test(
      "broker: guards need no IdP (IdP tokens 401, optional anonymous), login 503",
      () =>
        withExample("broker", async (base) => {
          await expectJsonError(await getWithToken(`${base}/api/me`, token), 401, "invalid_token");
          const anonymous = await getWithToken(`${base}/api/hello`, token);
          expect(await anonymous.json()).toEqual({ hello: "anonymous" });
          const login = await fetch(
            `${base}/api/auth/v2/login?redirect_uri=${encodeURIComponent(`${base}/callback`)}`,
            { redirect: "manual" },
          );
          await expectJsonError(login, 503, "temporarily_unavailable");
          const device = await fetch(`${base}/api/auth/v2/device`, { method: "POST" });
          await expectJsonError(device, 503, "temporarily_unavailable");
        }),
      START_TIMEOUT_MS,
    );
  });
}
