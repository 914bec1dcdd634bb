import { createHash, randomBytes } from "node:crypto";
import { Agent, request as httpRequest } from "node:http";
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DEMO_CLIENTS, DEMO_USERS, type DevIdp, startDevIdp } from "../src/index.js";

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  device_authorization_endpoint: string;
  end_session_endpoint: string;
  revocation_endpoint: string;
  pushed_authorization_request_endpoint?: string;
  code_challenge_methods_supported: string[];
  grant_types_supported: string[];
  [key: string]: unknown;
}

interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  token_type?: string;
  expires_in?: number;
  scope?: string;
  error?: string;
  error_description?: string;
}

const CONFIDENTIAL = { id: "oidc-auth-demo", secret: "oidc-auth-demo-secret" };
const PUBLIC_ID = "oidc-auth-public";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const SCOPE = "openid profile email offline_access";

let idp: DevIdp;
let discovery: Discovery;
let jwks: ReturnType<typeof createLocalJWKSet>;
const consoleSpies: ReturnType<typeof vi.spyOn>[] = [];

function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

function authorizationUrl(params: Record<string, string>): string {
  const url = new URL(discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(form),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as TokenResponse) : {} };
}

function tokenRequest(form: Record<string, string>, confidential = true) {
  return postForm(
    discovery.token_endpoint,
    form,
    confidential ? { authorization: basic(CONFIDENTIAL.id, CONFIDENTIAL.secret) } : {},
  );
}

/** Runs a complete code + PKCE login and returns the token response. */
async function loginAndExchange(opts: {
  clientId?: string;
  redirectUri?: string;
  username?: string;
  scope?: string;
  extra?: Record<string, string>;
}): Promise<TokenResponse> {
  const clientId = opts.clientId ?? CONFIDENTIAL.id;
  const redirectUri = opts.redirectUri ?? "http://127.0.0.1:12345/cb";
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString("hex");
  const url = authorizationUrl({
    client_id: clientId,
    response_type: "code",
    redirect_uri: redirectUri,
    scope: opts.scope ?? SCOPE,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    nonce: randomBytes(8).toString("hex"),
    ...opts.extra,
  });
  const callback = await idp.completeLogin(url, opts.username ?? "alice", undefined);
  expect(callback.origin + callback.pathname).toBe(redirectUri);
  expect(callback.searchParams.get("state")).toBe(state);
  const code = callback.searchParams.get("code");
  expect(code, callback.href).toBeTruthy();
  const confidential = clientId === CONFIDENTIAL.id;
  const { status, body } = await tokenRequest(
    {
      grant_type: "authorization_code",
      code: code ?? "",
      redirect_uri: redirectUri,
      code_verifier: verifier,
      ...(confidential ? {} : { client_id: clientId }),
    },
    confidential,
  );
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

async function verifyAccessToken(token: string): Promise<JWTPayload> {
  const header = decodeProtectedHeader(token);
  expect(header.typ).toBe("at+jwt");
  expect(header.alg).toBe("RS256");
  expect(header.kid).toBeTruthy();
  const { payload } = await jwtVerify(token, jwks, {
    issuer: idp.issuer,
    audience: idp.audience,
    typ: "at+jwt",
  });
  return payload;
}

beforeAll(async () => {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    consoleSpies.push(vi.spyOn(console, method));
  }
  idp = await startDevIdp();
  discovery = (await (await fetch(idp.discoveryUrl)).json()) as Discovery;
  const keys = (await (await fetch(discovery.jwks_uri)).json()) as JSONWebKeySet;
  jwks = createLocalJWKSet(keys);
});

afterAll(async () => {
  await idp?.stop();
  for (const spy of consoleSpies) spy.mockRestore();
});

describe("discovery", () => {
  it("publishes the issuer on the bound port and all endpoints", () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(idp.port).toBeGreaterThan(0);
    expect(idp.issuer).toBe(`http://127.0.0.1:${idp.port}`);
    expect(idp.discoveryUrl).toBe(`${idp.issuer}/.well-known/openid-configuration`);
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.authorization_endpoint).toBe(`${idp.issuer}/auth`);
    expect(discovery.token_endpoint).toBe(`${idp.issuer}/token`);
    expect(discovery.userinfo_endpoint).toBe(`${idp.issuer}/me`);
    expect(discovery.jwks_uri).toBe(`${idp.issuer}/jwks`);
    expect(discovery.device_authorization_endpoint).toBe(`${idp.issuer}/device/auth`);
    expect(discovery.end_session_endpoint).toBe(`${idp.issuer}/session/end`);
    expect(discovery.revocation_endpoint).toBe(`${idp.issuer}/token/revocation`);
    expect(discovery.code_challenge_methods_supported).toEqual(["S256"]);
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining(["authorization_code", "refresh_token", DEVICE_GRANT]),
    );
  });

  it("exposes the defaults", () => {
    expect(idp.audience).toBe("oidc-auth-api");
    expect(idp.users).toBe(DEMO_USERS);
    expect(idp.clients).toBe(DEMO_CLIENTS);
    expect(DEMO_USERS.map((u) => u.username)).toEqual(["alice", "bob"]);
    expect(DEMO_CLIENTS.map((c) => c.clientId)).toEqual(["oidc-auth-demo", "oidc-auth-public"]);
  });

  it("counts requests per pathname", async () => {
    idp.resetHits();
    expect(idp.hits.size).toBe(0);
    await fetch(idp.discoveryUrl).then((r) => r.arrayBuffer());
    await fetch(idp.discoveryUrl).then((r) => r.arrayBuffer());
    await fetch(discovery.jwks_uri).then((r) => r.arrayBuffer());
    expect(idp.hits.get("/.well-known/openid-configuration")).toBe(2);
    expect(idp.hits.get("/jwks")).toBe(1);
    await loginAndExchange({});
    expect(idp.hits.get("/token")).toBe(1);
    expect(idp.hits.get("/auth")).toBeGreaterThanOrEqual(1);
    idp.resetHits();
    expect(idp.hits.get("/.well-known/openid-configuration")).toBeUndefined();
  });
});

describe("authorization code + PKCE", () => {
  it("serves a real HTML login form", async () => {
    const { challenge } = pkce();
    const response = await fetch(
      authorizationUrl({
        client_id: CONFIDENTIAL.id,
        response_type: "code",
        redirect_uri: "http://127.0.0.1:12345/cb",
        scope: "openid",
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "s",
      }),
      { redirect: "manual" },
    );
    expect(response.status).toBeGreaterThanOrEqual(300);
    const location = new URL(response.headers.get("location") ?? "", idp.issuer);
    expect(location.pathname).toMatch(/^\/interaction\/[^/]+$/);
    const cookies = response.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const page = await fetch(location, { headers: { cookie: cookies } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toMatch(/<form [^>]*method="post"[^>]*action="\/interaction\/[^"]+\/login"/);
    expect(html).toMatch(/<input [^>]*type="text" name="username"/);
    expect(html).toMatch(/<input [^>]*type="password" name="password"/);
    expect(html).toMatch(/<button type="submit">Sign in<\/button>/);
  });

  it("issues JWT access tokens with Keycloak-shaped claims, an ID token and a refresh token", async () => {
    const tokens = await loginAndExchange({});
    expect(tokens.token_type).toBe("Bearer");
    expect(tokens.expires_in).toBe(300);
    expect(tokens.scope).toBe("openid profile email offline_access");
    expect(tokens.refresh_token).toBeTruthy();

    const at = await verifyAccessToken(tokens.access_token ?? "");
    expect(at).toMatchObject({
      iss: idp.issuer,
      sub: "u-alice",
      aud: "oidc-auth-api",
      client_id: "oidc-auth-demo",
      scope: "openid profile email offline_access",
      preferred_username: "alice",
      email: "alice@example.org",
      email_verified: true,
      given_name: "Alice",
      family_name: "Liddell",
      realm_access: { roles: ["user", "admin"] },
      resource_access: { "oidc-auth-demo": { roles: ["editor"] } },
      groups: ["/staff"],
    });
    expect(typeof at.jti).toBe("string");
    expect(typeof at.iat).toBe("number");
    expect((at.exp ?? 0) - (at.iat ?? 0)).toBe(300);

    const { payload: id } = await jwtVerify(tokens.id_token ?? "", jwks, {
      issuer: idp.issuer,
      audience: "oidc-auth-demo",
    });
    expect(id).toMatchObject({
      sub: "u-alice",
      preferred_username: "alice",
      email: "alice@example.org",
      email_verified: true,
      given_name: "Alice",
      family_name: "Liddell",
      name: "Alice Liddell",
    });
    expect(typeof id.nonce).toBe("string");
  });

  it("refreshes into a new JWT access token", async () => {
    const tokens = await loginAndExchange({ username: "bob" });
    const { status, body } = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token ?? "",
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toBeTruthy();
    expect(body.access_token).not.toBe(tokens.access_token);
    expect(body.id_token).toBeTruthy();
    const at = await verifyAccessToken(body.access_token ?? "");
    expect(at).toMatchObject({
      sub: "u-bob",
      aud: "oidc-auth-api",
      preferred_username: "bob",
      realm_access: { roles: ["user"] },
      resource_access: { "oidc-auth-demo": { roles: ["viewer"] } },
      groups: ["/guests"],
      scope: "openid profile email offline_access",
    });
  });

  it("accepts any loopback redirect URI for the public client (PKCE, no secret)", async () => {
    const tokens = await loginAndExchange({
      clientId: PUBLIC_ID,
      redirectUri: "http://localhost:54321/some/other/callback",
    });
    const at = await verifyAccessToken(tokens.access_token ?? "");
    expect(at.client_id).toBe(PUBLIC_ID);
    expect(at.azp).toBe(PUBLIC_ID);
    expect(tokens.refresh_token).toBeTruthy();

    // public clients rotate refresh tokens
    const refreshed = await postForm(discovery.token_endpoint, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token ?? "",
      client_id: PUBLIC_ID,
    });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    await verifyAccessToken(refreshed.body.access_token ?? "");
    expect(refreshed.body.refresh_token).toBeTruthy();
    expect(refreshed.body.refresh_token).not.toBe(tokens.refresh_token);
  });

  it("requires PKCE for the public client", async () => {
    const callback = await idp.completeLogin(
      authorizationUrl({
        client_id: PUBLIC_ID,
        response_type: "code",
        redirect_uri: "http://127.0.0.1:5000/cb",
        scope: "openid",
        state: "xyz",
      }),
    );
    expect(callback.searchParams.get("error")).toBe("invalid_request");
    expect(callback.searchParams.get("state")).toBe("xyz");
  });

  it("rejects non-loopback redirect URIs", async () => {
    const { challenge } = pkce();
    await expect(
      idp.completeLogin(
        authorizationUrl({
          client_id: CONFIDENTIAL.id,
          response_type: "code",
          redirect_uri: "http://example.com:8080/cb",
          scope: "openid",
          code_challenge: challenge,
          code_challenge_method: "S256",
        }),
      ),
    ).rejects.toThrow(/redirect_uri/);
  });

  it("keeps offline_access with prompt=login and with pushed authorization requests", async () => {
    const withPrompt = await loginAndExchange({ extra: { prompt: "login" } });
    expect(withPrompt.refresh_token).toBeTruthy();
    expect(withPrompt.scope).toContain("offline_access");

    const { verifier, challenge } = pkce();
    const redirectUri = "http://127.0.0.1:7777/par-cb";
    const par = await fetch(discovery.pushed_authorization_request_endpoint ?? "", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: basic(CONFIDENTIAL.id, CONFIDENTIAL.secret),
      },
      body: new URLSearchParams({
        client_id: CONFIDENTIAL.id,
        response_type: "code",
        redirect_uri: redirectUri,
        scope: SCOPE,
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "par-state",
      }),
    });
    expect(par.status).toBe(201);
    const { request_uri } = (await par.json()) as { request_uri: string };
    const callback = await idp.completeLogin(
      authorizationUrl({ client_id: CONFIDENTIAL.id, request_uri }),
    );
    const { status, body } = await tokenRequest({
      grant_type: "authorization_code",
      code: callback.searchParams.get("code") ?? "",
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.refresh_token).toBeTruthy();
    await verifyAccessToken(body.access_token ?? "");
  });

  it("auto-grants an explicitly requested consent prompt and supports form_post", async () => {
    const consent = await loginAndExchange({ extra: { prompt: "consent" } });
    expect(consent.refresh_token).toBeTruthy();
    await verifyAccessToken(consent.access_token ?? "");

    const formPost = await loginAndExchange({ extra: { response_mode: "form_post" } });
    await verifyAccessToken(formPost.access_token ?? "");
  });

  it("issues no refresh token without offline_access", async () => {
    const tokens = await loginAndExchange({ scope: "openid profile" });
    expect(tokens.refresh_token).toBeUndefined();
    const at = await verifyAccessToken(tokens.access_token ?? "");
    expect(at.scope).toBe("openid profile");
  });

  it("returns the error to the RP when the user cancels", async () => {
    const { challenge } = pkce();
    const url = authorizationUrl({
      client_id: CONFIDENTIAL.id,
      response_type: "code",
      redirect_uri: "http://127.0.0.1:12345/cb",
      scope: "openid",
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "s1",
    });
    const first = await fetch(url, { redirect: "manual" });
    const cookies = first.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const interaction = new URL(first.headers.get("location") ?? "", idp.issuer);
    const abort = await fetch(new URL(`${interaction.pathname}/abort`, idp.issuer), {
      method: "POST",
      headers: { cookie: cookies },
      redirect: "manual",
    });
    expect(abort.status).toBe(303);
    const resume = await fetch(new URL(abort.headers.get("location") ?? "", idp.issuer), {
      headers: { cookie: cookies },
      redirect: "manual",
    });
    const callback = new URL(resume.headers.get("location") ?? "");
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("state")).toBe("s1");
  });

  it("fails completeLogin with a clear error on a wrong password", async () => {
    const { challenge } = pkce();
    const url = authorizationUrl({
      client_id: CONFIDENTIAL.id,
      response_type: "code",
      redirect_uri: "http://127.0.0.1:12345/cb",
      scope: "openid",
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    await expect(idp.completeLogin(url, "alice", "nope")).rejects.toThrow(
      /login as "alice" failed: Invalid username or password/,
    );
    await expect(idp.completeLogin(url, "mallory", "x")).rejects.toThrow(
      /login as "mallory" failed/,
    );
  });
});

describe("userinfo", () => {
  it("answers for the JWT access tokens the token endpoint issues", async () => {
    const tokens = await loginAndExchange({});
    const response = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      sub: "u-alice",
      preferred_username: "alice",
      name: "Alice Liddell",
      given_name: "Alice",
      family_name: "Liddell",
      email: "alice@example.org",
      email_verified: true,
    });
  });

  it("releases claims by scope and rejects bad tokens", async () => {
    const onlyOpenid = await idp.mintAccessToken("bob", { scope: "openid email" });
    const response = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${onlyOpenid}` },
    });
    expect(await response.json()).toEqual({
      sub: "u-bob",
      email: "bob@example.org",
      email_verified: true,
    });

    const wrongAud = await idp.mintAccessToken("bob", { audience: "someone-else" });
    const rejected = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${wrongAud}` },
    });
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);

    const opaque = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: "Bearer not-a-token" },
    });
    expect(opaque.status).toBe(401);
  });
});

describe("revocation", () => {
  it("revokes refresh tokens", async () => {
    const tokens = await loginAndExchange({});
    const revoked = await fetch(discovery.revocation_endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: basic(CONFIDENTIAL.id, CONFIDENTIAL.secret),
      },
      body: new URLSearchParams({
        token: tokens.refresh_token ?? "",
        token_type_hint: "refresh_token",
      }),
    });
    expect(revoked.status).toBe(200);
    const { status, body } = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token ?? "",
    });
    expect(status).toBe(400);
    expect(body.error).toBe("invalid_grant");
  });
});

describe("device authorization grant", () => {
  async function startDevice(clientId = CONFIDENTIAL.id, scope = SCOPE) {
    const confidential = clientId === CONFIDENTIAL.id;
    const response = await fetch(discovery.device_authorization_endpoint, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(confidential ? { authorization: basic(CONFIDENTIAL.id, CONFIDENTIAL.secret) } : {}),
      },
      body: new URLSearchParams({ scope, ...(confidential ? {} : { client_id: clientId }) }),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as {
      device_code: string;
      user_code: string;
      verification_uri: string;
      verification_uri_complete: string;
      expires_in: number;
      interval?: number;
    };
  }

  function poll(deviceCode: string, clientId = CONFIDENTIAL.id) {
    const confidential = clientId === CONFIDENTIAL.id;
    return tokenRequest(
      {
        grant_type: DEVICE_GRANT,
        device_code: deviceCode,
        ...(confidential ? {} : { client_id: clientId }),
      },
      confidential,
    );
  }

  it("issues tokens after the user approves on /device", async () => {
    const device = await startDevice();
    expect(device.verification_uri).toBe(`${idp.issuer}/device`);
    expect(device.verification_uri_complete).toBe(
      `${idp.issuer}/device?user_code=${encodeURIComponent(device.user_code)}`,
    );
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(device.interval).toBe(1); // deviceIntervalSec's default: quick device logins
    expect(device.device_code).toMatch(/^[A-Za-z0-9_-]{43}$/); // the alphabet oidc-auth admits

    const pending = await poll(device.device_code);
    expect(pending.status).toBe(400);
    expect(pending.body.error).toBe("authorization_pending");

    await idp.approveDevice(device.user_code, "bob", "bob-password");

    const { status, body } = await poll(device.device_code);
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.refresh_token).toBeTruthy();
    expect(body.id_token).toBeTruthy();
    const at = await verifyAccessToken(body.access_token ?? "");
    expect(at).toMatchObject({
      sub: "u-bob",
      preferred_username: "bob",
      aud: "oidc-auth-api",
      scope: "openid profile email offline_access",
      client_id: CONFIDENTIAL.id,
    });

    const refreshed = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: body.refresh_token ?? "",
    });
    expect(refreshed.status).toBe(200);
    await verifyAccessToken(refreshed.body.access_token ?? "");
  });

  it("works for the public client with the default user", async () => {
    const device = await startDevice(PUBLIC_ID, "openid profile");
    await idp.approveDevice(device.user_code);
    const { status, body } = await poll(device.device_code, PUBLIC_ID);
    expect(status, JSON.stringify(body)).toBe(200);
    const at = await verifyAccessToken(body.access_token ?? "");
    expect(at.sub).toBe("u-alice");
    expect(body.refresh_token).toBeUndefined();
  });

  it("returns access_denied when the user denies", async () => {
    const device = await startDevice();
    await idp.approveDevice(device.user_code, "alice", "alice-password", { deny: true });
    const { status, body } = await poll(device.device_code);
    expect(status).toBe(400);
    expect(body.error).toBe("access_denied");
  });

  it("rejects unknown user codes and wrong passwords with clear errors", async () => {
    await expect(idp.approveDevice("BCDF-GHJK")).rejects.toThrow(/user code "BCDF-GHJK"/);
    const device = await startDevice();
    await expect(idp.approveDevice(device.user_code, "alice", "wrong")).rejects.toThrow(
      /login as "alice" failed/,
    );
  });
});

describe("RP-initiated logout", () => {
  it("redirects to a loopback post_logout_redirect_uri", async () => {
    const url = new URL(discovery.end_session_endpoint);
    url.searchParams.set("client_id", CONFIDENTIAL.id);
    url.searchParams.set("post_logout_redirect_uri", "http://127.0.0.1:4321/signed-out");
    url.searchParams.set("state", "bye");
    const target = await idp.completeLogout(url.href);
    expect(target.origin + target.pathname).toBe("http://127.0.0.1:4321/signed-out");
    expect(target.searchParams.get("state")).toBe("bye");
  });

  it("rejects non-loopback post_logout_redirect_uris", async () => {
    const url = new URL(discovery.end_session_endpoint);
    url.searchParams.set("client_id", CONFIDENTIAL.id);
    url.searchParams.set("post_logout_redirect_uri", "https://example.com/");
    await expect(idp.completeLogout(url.href)).rejects.toThrow(/post_logout_redirect_uri/);
  });
});

describe("signJwt / mintAccessToken", () => {
  it("signs arbitrary JWTs with the IdP key", async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await idp.signJwt({
      iss: idp.issuer,
      aud: idp.audience,
      sub: "u-alice",
      iat: now - 600,
      exp: now - 300,
    });
    expect(decodeProtectedHeader(expired)).toMatchObject({ alg: "RS256", typ: "at+jwt" });
    await expect(jwtVerify(expired, jwks)).rejects.toThrow(/exp/);
    const { payload } = await jwtVerify(expired, jwks, {
      currentDate: new Date((now - 400) * 1000),
    });
    expect(payload.sub).toBe("u-alice");

    const custom = await idp.signJwt({ iss: "https://evil.example" }, { typ: "JWT" });
    expect(decodeProtectedHeader(custom).typ).toBe("JWT");
    const verified = await jwtVerify(custom, jwks);
    expect(verified.payload.iss).toBe("https://evil.example");
  });

  it("mints access tokens shaped like the token endpoint's", async () => {
    const fromEndpoint = decodeJwt((await loginAndExchange({})).access_token ?? "");
    const minted = await idp.mintAccessToken("alice", { scope: SCOPE });
    const payload = await verifyAccessToken(minted);
    expect(Object.keys(payload).sort()).toEqual(Object.keys(fromEndpoint).sort());
    expect(payload).toMatchObject({
      ...fromEndpoint,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(decodeProtectedHeader(minted)).toEqual(
      decodeProtectedHeader((await loginAndExchange({})).access_token ?? ""),
    );

    const short = decodeJwt(
      await idp.mintAccessToken("bob", { expiresInSec: 5, audience: "other", scope: "openid" }),
    );
    expect(short.exp).toBe((short.iat ?? 0) + 5);
    expect(short.aud).toBe("other");
    expect(short.scope).toBe("openid");
    await expect(idp.mintAccessToken("nobody")).rejects.toThrow(/unknown user/);
  });
});

describe("lifecycle", () => {
  it("honours options and stops quickly with open keep-alive connections", async () => {
    const other = await startDevIdp({
      audience: "custom-aud",
      accessTokenTtlSec: 60,
      users: [
        {
          sub: "u-carol",
          username: "carol",
          password: "pw",
          givenName: "Carol",
          familyName: "C",
          email: "carol@example.org",
          realmRoles: [],
          clientRoles: {},
          groups: [],
        },
      ],
    });
    expect(other.issuer).not.toBe(idp.issuer);
    const token = decodeJwt(await other.mintAccessToken("carol"));
    expect(token).toMatchObject({ aud: "custom-aud", iss: other.issuer, sub: "u-carol" });
    expect((token.exp ?? 0) - (token.iat ?? 0)).toBe(60);

    // a keep-alive connection that stays open
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      httpRequest(other.discoveryUrl, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      })
        .on("error", reject)
        .end();
    });
    const started = Date.now();
    await other.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    agent.destroy();
    await expect(fetch(other.discoveryUrl)).rejects.toThrow();
    await other.stop(); // idempotent
  });

  it("printed nothing to the console", () => {
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});
