// Logout at the IdP itself: Back-Channel Logout 1.0 POSTs, `sid` in ID tokens, the browser-less
// helpers that keep one IdP session (newBrowser / endIdpSession), and online refresh tokens.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createIdpBrowser,
  DEMO_CLIENTS,
  type DevClient,
  type DevIdp,
  devIdpOptionsFromEnv,
  endIdpSessionAt,
  type IdpBrowser,
  startDevIdp,
} from "../src/index.js";

const LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";
const CONFIDENTIAL = { id: "oidc-auth-demo", secret: "oidc-auth-demo-secret" };
const PUBLIC_ID = "oidc-auth-public";
const REDIRECT_URI = "http://127.0.0.1:12345/cb";

interface TokenResponse {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
  error?: string;
  error_description?: string;
}

interface Delivery {
  path: string;
  contentType: string | undefined;
  form: URLSearchParams;
}

/** A back-channel logout receiver on 127.0.0.1 that records every POST and answers `status`. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  status = 200;
  #server: Server | undefined;
  origin = "";

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (req.method === "POST") {
          this.deliveries.push({
            path: req.url ?? "",
            contentType: req.headers["content-type"],
            form: new URLSearchParams(Buffer.concat(chunks).toString("utf8")),
          });
        }
        res.statusCode = this.status;
        res.setHeader("cache-control", "no-store");
        res.end();
      });
    });
    const server = this.#server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  at(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

async function tokenRequest(
  idp: DevIdp,
  clientId: string,
  form: Record<string, string>,
): Promise<{ status: number; body: TokenResponse }> {
  const confidential = clientId === CONFIDENTIAL.id;
  const response = await fetch(`${idp.issuer}/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(confidential ? { authorization: basic(CONFIDENTIAL.id, CONFIDENTIAL.secret) } : {}),
    },
    body: new URLSearchParams(confidential ? form : { ...form, client_id: clientId }),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

/** An authorization URL for the public client (PKCE S256), for logins whose code is not used. */
function authorizationUrl(idp: DevIdp): string {
  const url = new URL(`${idp.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: PUBLIC_ID,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: "openid",
    code_challenge: createHash("sha256").update("unused verifier").digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  return url.href;
}

/** A code + PKCE login in `browser` (its IdP session stays there), exchanged for tokens. */
async function login(
  idp: DevIdp,
  browser: IdpBrowser,
  opts: { clientId?: string; username?: string; scope?: string } = {},
): Promise<TokenResponse> {
  const clientId = opts.clientId ?? CONFIDENTIAL.id;
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${idp.issuer}/auth`);
  for (const [name, value] of Object.entries({
    client_id: clientId,
    response_type: "code",
    redirect_uri: REDIRECT_URI,
    scope: opts.scope ?? "openid profile",
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    state: randomBytes(8).toString("hex"),
    nonce: randomBytes(8).toString("hex"),
  })) {
    url.searchParams.set(name, value);
  }
  const callback = await idp.completeLogin(url.href, opts.username ?? "alice", undefined, {
    browser,
  });
  const code = callback.searchParams.get("code");
  expect(code, callback.href).toBeTruthy();
  const { status, body } = await tokenRequest(idp, clientId, {
    grant_type: "authorization_code",
    code: code ?? "",
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  });
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

function refresh(idp: DevIdp, clientId: string, refreshToken: string) {
  return tokenRequest(idp, clientId, { grant_type: "refresh_token", refresh_token: refreshToken });
}

function sidOf(idToken: string | undefined): string {
  const { sid } = decodeJwt(idToken ?? "");
  expect(typeof sid).toBe("string");
  return sid as string;
}

const receiver = new Receiver();
const consoleSpies: ReturnType<typeof vi.spyOn>[] = [];

beforeAll(async () => {
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    consoleSpies.push(vi.spyOn(console, method));
  }
  await receiver.start();
});

afterAll(async () => {
  await receiver.stop();
  for (const spy of consoleSpies) spy.mockRestore();
});

describe("back-channel logout", () => {
  let idp: DevIdp;
  const errors: Error[] = [];

  beforeAll(async () => {
    idp = await startDevIdp({
      clients: DEMO_CLIENTS.map((client) =>
        client.clientId === CONFIDENTIAL.id
          ? { ...client, backchannelLogoutUri: receiver.url("/demo/logout") }
          : client,
      ),
      onError: (error) => errors.push(error),
    });
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it("announces back-channel logout with sid in discovery", async () => {
    const discovery = (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>;
    expect(discovery.backchannel_logout_supported).toBe(true);
    expect(discovery.backchannel_logout_session_supported).toBe(true);
    expect(discovery.jwks_uri).toBe(`${idp.issuer}/jwks`);
  });

  it("POSTs a verifiable logout token for the ID token's sid when the user signs out at the IdP", async () => {
    const browser = idp.newBrowser();
    const tokens = await login(idp, browser);
    const sid = sidOf(tokens.id_token);
    const before = receiver.deliveries.length;

    const signedOut = await idp.endIdpSession(browser);
    expect(signedOut.href).toBe(`${idp.issuer}/session/end/success`);

    // endIdpSession resolves after oidc-provider's POST was answered
    const deliveries = receiver.deliveries.slice(before);
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery?.path).toBe("/demo/logout");
    expect(delivery?.contentType).toBe("application/x-www-form-urlencoded");
    expect([...(delivery?.form.keys() ?? [])]).toEqual(["logout_token"]);
    const logoutToken = delivery?.form.get("logout_token") ?? "";

    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(logoutToken, jwks, {
      issuer: idp.issuer,
      audience: CONFIDENTIAL.id,
      typ: "logout+jwt",
      algorithms: ["RS256"],
    });
    expect(protectedHeader.kid).toBe(decodeProtectedHeader(tokens.id_token ?? "").kid);
    expect(payload.iss).toBe(idp.issuer);
    expect(payload.aud).toBe(CONFIDENTIAL.id);
    expect(payload.sub).toBe("u-alice");
    expect(payload.sid).toBe(sid);
    expect(typeof payload.jti).toBe("string");
    expect(typeof payload.iat).toBe("number");
    expect(payload).not.toHaveProperty("nonce");
    const events = payload.events as Record<string, unknown>;
    expect(Object.keys(events)).toEqual([LOGOUT_EVENT]);
    expect(events[LOGOUT_EVENT]).toEqual({});
    expect(errors).toEqual([]);
  });

  it("ends the browser's IdP session: no second sign-out, and the next login asks for the password", async () => {
    const browser = idp.newBrowser();
    await login(idp, browser);
    // single sign-on while the session lives: no login form, so the wrong password is never sent
    const sso = await idp.completeLogin(authorizationUrl(idp), "alice", "wrong", { browser });
    expect(sso.searchParams.get("code")).toBeTruthy();

    await idp.endIdpSession(browser);
    await expect(idp.endIdpSession(browser)).rejects.toThrow(/no session at the IdP/);
    await expect(idp.endIdpSession(idp.newBrowser())).rejects.toThrow(/no session at the IdP/);
    await expect(
      idp.completeLogin(authorizationUrl(idp), "alice", "wrong", { browser }),
    ).rejects.toThrow(/login as "alice" failed/);
    await login(idp, browser, { username: "bob" });
    const again = await login(idp, browser); // asks for alice, gets bob's session
    expect(decodeJwt(again.id_token ?? "").sub).toBe("u-bob");
  });

  it("notifies only the clients of the ended session, each with its own sid", async () => {
    await idp.setBackchannelLogoutUri(PUBLIC_ID, receiver.url("/public/logout"));
    try {
      const alice = idp.newBrowser();
      const bob = idp.newBrowser();
      const aliceDemo = await login(idp, alice);
      const alicePublic = await login(idp, alice, { clientId: PUBLIC_ID }); // single sign-on
      await login(idp, bob, { username: "bob" });
      const before = receiver.deliveries.length;

      await idp.endIdpSession(alice);
      const deliveries = receiver.deliveries.slice(before);
      expect(deliveries.map((d) => d.path).sort()).toEqual(["/demo/logout", "/public/logout"]);
      const byPath = new Map(
        deliveries.map((d) => [d.path, decodeJwt(d.form.get("logout_token") ?? "")]),
      );
      expect(byPath.get("/demo/logout")).toMatchObject({
        aud: CONFIDENTIAL.id,
        sub: "u-alice",
        sid: sidOf(aliceDemo.id_token),
      });
      expect(byPath.get("/public/logout")).toMatchObject({
        aud: PUBLIC_ID,
        sub: "u-alice",
        sid: sidOf(alicePublic.id_token),
      });

      // bob's session is another one, still alive
      const bobDeliveries = receiver.deliveries.length;
      await idp.endIdpSession(bob);
      expect(receiver.deliveries.slice(bobDeliveries)).toHaveLength(1);
      expect(decodeJwt(receiver.deliveries.at(-1)?.form.get("logout_token") ?? "").sub).toBe(
        "u-bob",
      );
    } finally {
      await idp.setBackchannelLogoutUri(PUBLIC_ID, null);
    }
  });

  it("sends the back-channel logout on an RP-initiated logout in the login's browser too", async () => {
    const browser = idp.newBrowser();
    const tokens = await login(idp, browser);
    const before = receiver.deliveries.length;
    const url = new URL(`${idp.issuer}/session/end`);
    url.searchParams.set("client_id", CONFIDENTIAL.id);
    url.searchParams.set("post_logout_redirect_uri", "http://127.0.0.1:12345/bye");
    const target = await idp.completeLogout(url.href, { browser });
    expect(target.href).toBe("http://127.0.0.1:12345/bye");
    const deliveries = receiver.deliveries.slice(before);
    expect(deliveries).toHaveLength(1);
    expect(decodeJwt(deliveries[0]?.form.get("logout_token") ?? "").sid).toBe(
      sidOf(tokens.id_token),
    );
  });

  it("works through the standalone helpers against a running IdP", async () => {
    const browser = createIdpBrowser(idp.issuer);
    await login(idp, browser);
    const before = receiver.deliveries.length;
    const signedOut = await endIdpSessionAt(idp.issuer, browser);
    expect(signedOut.pathname).toBe("/session/end/success");
    expect(receiver.deliveries.slice(before)).toHaveLength(1);

    const other = await startDevIdp();
    try {
      await expect(endIdpSessionAt(other.issuer, browser)).rejects.toThrow(/belongs to/);
      await expect(
        endIdpSessionAt(idp.issuer, { origin: new URL(idp.issuer).origin, cookieHeader: () => "" }),
      ).rejects.toThrow(/newBrowser\(\)/);
    } finally {
      await other.stop();
    }
  });

  it("still signs the user out when a receiver fails, and reports it to onError", async () => {
    const browser = idp.newBrowser();
    await login(idp, browser);
    receiver.status = 500;
    try {
      const signedOut = await idp.endIdpSession(browser);
      expect(signedOut.pathname).toBe("/session/end/success");
    } finally {
      receiver.status = 200;
    }
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(
        /^back-channel logout to client "oidc-auth-demo" failed: expected 200 OK from http:\/\/127\.0\.0\.1:\d+\/demo\/logout, got: 500/,
      ),
    ]);
    errors.length = 0;
    await expect(idp.endIdpSession(browser)).rejects.toThrow(/no session at the IdP/);
  });
});

describe("setBackchannelLogoutUri", () => {
  let idp: DevIdp;

  beforeAll(async () => {
    idp = await startDevIdp(); // the demo clients, no back-channel URIs
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it("puts sid into ID tokens of clients without a back-channel URI", async () => {
    const tokens = await login(idp, idp.newBrowser(), { clientId: PUBLIC_ID });
    expect(sidOf(tokens.id_token)).toMatch(/\S/);
  });

  it("registers a URI after start (also for sessions begun before) and switches or removes it", async () => {
    const browser = idp.newBrowser();
    const early = await login(idp, browser); // before the app "knows its port"
    await idp.setBackchannelLogoutUri(CONFIDENTIAL.id, receiver.url("/first"));
    await idp.endIdpSession(browser);
    expect(receiver.at("/first")).toHaveLength(1);
    expect(decodeJwt(receiver.at("/first")[0]?.form.get("logout_token") ?? "").sid).toBe(
      sidOf(early.id_token),
    );

    await idp.setBackchannelLogoutUri(CONFIDENTIAL.id, receiver.url("/second?tenant=a"));
    await login(idp, browser);
    await idp.endIdpSession(browser);
    expect(receiver.at("/first")).toHaveLength(1);
    expect(receiver.at("/second?tenant=a")).toHaveLength(1);

    await idp.setBackchannelLogoutUri(CONFIDENTIAL.id, null);
    const before = receiver.deliveries.length;
    await login(idp, browser);
    await idp.endIdpSession(browser);
    expect(receiver.deliveries.length).toBe(before);
  });

  it("accepts http loopback URIs on any port and refuses what Back-Channel Logout forbids", async () => {
    await idp.setBackchannelLogoutUri(PUBLIC_ID, "http://localhost:1/bcl");
    await idp.setBackchannelLogoutUri(PUBLIC_ID, "http://127.0.0.1:65535/bcl");
    await idp.setBackchannelLogoutUri(PUBLIC_ID, "https://rp.example/bcl");
    await expect(idp.setBackchannelLogoutUri("nobody", receiver.url("/x"))).rejects.toThrow(
      /unknown client "nobody"/,
    );
    for (const bad of ["/relative", "ftp://127.0.0.1/x", "http://127.0.0.1/x#frag", "nonsense"]) {
      await expect(idp.setBackchannelLogoutUri(PUBLIC_ID, bad), bad).rejects.toThrow(
        /back-channel logout URI of client "oidc-auth-public"/,
      );
    }
    await idp.setBackchannelLogoutUri(PUBLIC_ID, null);
  });

  it("refuses bad URIs in DevClient at start", async () => {
    const bad: DevClient = {
      ...DEMO_CLIENTS[0],
      clientId: "x",
      backchannelLogoutUri: "mailto:a@b",
    };
    await expect(startDevIdp({ clients: [bad] })).rejects.toThrow(
      /back-channel logout URI of client "x" must be an absolute http\(s\) URI/,
    );
    await expect(
      startDevIdp({ clients: [DEMO_CLIENTS[0] as DevClient, DEMO_CLIENTS[0] as DevClient] }),
    ).rejects.toThrow(/duplicate client_id "oidc-auth-demo"/);
  });
});

describe("refresh tokens and the IdP session", () => {
  it("by default: a refresh token only with offline_access, and that one outlives IdP logout", async () => {
    const idp = await startDevIdp();
    try {
      const browser = idp.newBrowser();
      expect((await login(idp, browser)).refresh_token).toBeUndefined();
      const offline = await login(idp, browser, { scope: "openid offline_access" });
      expect(offline.refresh_token).toBeTruthy();
      await idp.endIdpSession(browser);
      const { status, body } = await refresh(idp, CONFIDENTIAL.id, offline.refresh_token ?? "");
      expect(status, JSON.stringify(body)).toBe(200);
    } finally {
      await idp.stop();
    }
  });

  it("with onlineRefreshTokens: a confidential client's refresh token works until the user signs out at the IdP", async () => {
    const idp = await startDevIdp({ onlineRefreshTokens: true });
    try {
      const browser = idp.newBrowser();
      const online = await login(idp, browser, { scope: "openid profile" });
      expect(online.refresh_token).toBeTruthy();
      const offline = await login(idp, browser, { scope: "openid offline_access" });
      // the public client still needs offline_access
      expect((await login(idp, browser, { clientId: PUBLIC_ID })).refresh_token).toBeUndefined();

      const first = await refresh(idp, CONFIDENTIAL.id, online.refresh_token ?? "");
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(decodeJwt(first.body.access_token ?? "").sub).toBe("u-alice");
      const current = first.body.refresh_token ?? online.refresh_token ?? "";

      await idp.endIdpSession(browser);
      const after = await refresh(idp, CONFIDENTIAL.id, current);
      expect(after.status).toBe(400);
      expect(after.body.error).toBe("invalid_grant");
      // the offline_access one belongs to no session
      const stillOffline = await refresh(idp, CONFIDENTIAL.id, offline.refresh_token ?? "");
      expect(stillOffline.status, JSON.stringify(stillOffline.body)).toBe(200);
    } finally {
      await idp.stop();
    }
  });

  it("a second login's online refresh token is not touched by another browser's logout", async () => {
    const idp = await startDevIdp({ onlineRefreshTokens: true });
    try {
      const one = idp.newBrowser();
      const two = idp.newBrowser();
      await login(idp, one);
      const kept = await login(idp, two);
      await idp.endIdpSession(one);
      const { status, body } = await refresh(idp, CONFIDENTIAL.id, kept.refresh_token ?? "");
      expect(status, JSON.stringify(body)).toBe(200);
    } finally {
      await idp.stop();
    }
  });
});

describe("devIdpOptionsFromEnv", () => {
  it("maps DEV_IDP_BACKCHANNEL_LOGOUT_URI and DEV_IDP_ONLINE_REFRESH_TOKENS", () => {
    expect(devIdpOptionsFromEnv({})).toEqual({});
    const options = devIdpOptionsFromEnv({
      DEV_IDP_BACKCHANNEL_LOGOUT_URI: "http://127.0.0.1:3000/auth/v2/backchannel-logout",
      DEV_IDP_ONLINE_REFRESH_TOKENS: "1",
    });
    expect(options.onlineRefreshTokens).toBe(true);
    expect(options.clients?.map((c) => [c.clientId, c.backchannelLogoutUri])).toEqual([
      ["oidc-auth-demo", "http://127.0.0.1:3000/auth/v2/backchannel-logout"],
      ["oidc-auth-public", "http://127.0.0.1:3000/auth/v2/backchannel-logout"],
    ]);
    expect(DEMO_CLIENTS.every((c) => c.backchannelLogoutUri === undefined)).toBe(true);
    expect(devIdpOptionsFromEnv({ DEV_IDP_ONLINE_REFRESH_TOKENS: "false" })).toEqual({
      onlineRefreshTokens: false,
    });
    expect(() => devIdpOptionsFromEnv({ DEV_IDP_ONLINE_REFRESH_TOKENS: "yes" })).toThrow(
      /DEV_IDP_ONLINE_REFRESH_TOKENS must be 1, true, 0 or false/,
    );
    expect(() => devIdpOptionsFromEnv({ DEV_IDP_BACKCHANNEL_LOGOUT_URI: "x#y" })).toThrow(
      /DEV_IDP_BACKCHANNEL_LOGOUT_URI: .*absolute http\(s\) URI/,
    );
  });

  it("drives a real IdP: the env's URI receives the logout token", async () => {
    const idp = await startDevIdp(
      devIdpOptionsFromEnv({ DEV_IDP_BACKCHANNEL_LOGOUT_URI: receiver.url("/from-env") }),
    );
    try {
      const browser = idp.newBrowser();
      await login(idp, browser, { clientId: PUBLIC_ID });
      await idp.endIdpSession(browser);
      expect(receiver.at("/from-env")).toHaveLength(1);
      expect(decodeJwt(receiver.at("/from-env")[0]?.form.get("logout_token") ?? "").aud).toBe(
        PUBLIC_ID,
      );
    } finally {
      await idp.stop();
    }
  });
});

describe("console", () => {
  it("printed nothing", () => {
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
  });
});
