import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { expectJsonError } from "../../../test-support/assertions.js";
import type { Stack } from "./support.js";
import {
  cookieOf,
  getWithToken,
  loginTokens,
  postToken,
  startBrowserLogin,
  startStack,
} from "./support.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

const tokenHits = () => stack.idp.hits.get("/token") ?? 0;

describe("login errors", () => {
  const login = (query: string) =>
    fetch(`${stack.url}/api/auth/v2/login?${query}`, { redirect: "manual" });

  it("requires a non-empty redirect_uri when one is sent (none at all is a browser-session login)", async () => {
    await expectJsonError(await login("redirect_uri="), 400, "invalid_request");
    const session = await login("");
    expect(session.status).toBe(302);
    const authorization = new URL(session.headers.get("location") as string);
    expect(authorization.searchParams.get("redirect_uri")).toBe(
      `${stack.url}/api/auth/v2/callback`,
    );
  });

  it("refuses a redirect_uri outside the allow-list, without echoing it", async () => {
    const evil = "https://evil.example/callback";
    const body = await expectJsonError(
      await login(`redirect_uri=${encodeURIComponent(evil)}`),
      400,
      "invalid_request",
    );
    expect(JSON.stringify(body)).not.toContain("evil.example");
    for (const lookalike of [
      "http://127.0.0.1.evil.example/callback",
      "http://localhost@evil.example/callback",
      "https://127.0.0.1:3000/callback#frag",
      "javascript:alert(1)",
      "http://127.0.0.1:3000/callback\r\nSet-Cookie: x=1",
    ]) {
      await expectJsonError(
        await login(`redirect_uri=${encodeURIComponent(lookalike)}`),
        400,
        "invalid_request",
      );
    }
  });

  it("refuses an unknown prompt, a plain code challenge and a scope beyond the configuration", async () => {
    const uri = `redirect_uri=${encodeURIComponent(stack.redirectUri)}`;
    await expectJsonError(await login(`${uri}&prompt=always`), 400, "invalid_request");
    await expectJsonError(
      await login(`${uri}&code_challenge=${"a".repeat(43)}&code_challenge_method=plain`),
      400,
      "invalid_request",
    );
    await expectJsonError(await login(`${uri}&scope=admin`), 400, "invalid_scope");
    await expectJsonError(await login(`${uri}&offline_access=yes`), 400, "invalid_request");
  });
});

describe("callback errors", () => {
  const callback = (query: string, cookie?: string) =>
    fetch(`${stack.url}/api/auth/v2/callback?${query}`, { headers: cookie ? { cookie } : {} });

  it("requires code and state", async () => {
    await expectJsonError(await callback(""), 400, "invalid_request");
    await expectJsonError(await callback("code=abc"), 400, "invalid_request");
    await expectJsonError(await callback("state=abc"), 400, "invalid_request");
  });

  it("passes the IdP's error on as a 400", async () => {
    await expectJsonError(await callback("error=access_denied&state=x"), 400, "access_denied");
    await expectJsonError(await callback("error=%3Cscript%3E&state=x"), 400, "access_denied");
  });

  it("refuses a forged state without calling the IdP", async () => {
    const { authorizationUrl, cookie } = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    const before = tokenHits();
    const forged = new URLSearchParams(redirect.search);
    forged.set("state", "forged-state-forged-state-forged-state");
    await expectJsonError(await callback(forged.toString(), cookie), 400, "invalid_request");
    await expectJsonError(await callback(redirect.search.slice(1)), 400, "invalid_request");
    await expectJsonError(
      await callback(redirect.search.slice(1), "oidc_auth_tx=garbage"),
      400,
      "invalid_request",
    );
    expect(tokenHits()).toBe(before);
  });

  it("refuses a callback whose state belongs to another browser, without calling the IdP", async () => {
    const victim = await startBrowserLogin(stack);
    const attacker = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(
      victim.authorizationUrl,
      "alice",
      "alice-password",
    );
    const before = tokenHits();
    await expectJsonError(
      await callback(redirect.search.slice(1), attacker.cookie),
      400,
      "invalid_request",
    );
    expect(tokenHits()).toBe(before);
  });

  it("refuses a replayed callback", async () => {
    const { authorizationUrl, cookie } = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    const first = await callback(redirect.search.slice(1), cookie);
    expect(first.status).toBe(200);
    const before = tokenHits();
    await expectJsonError(await callback(redirect.search.slice(1), cookie), 400, "invalid_request");
    expect(tokenHits()).toBe(before);
  });

  it("refuses an expired login transaction", async () => {
    const { authorizationUrl, cookie } = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 11 * 60 * 1000 });
    const before = tokenHits();
    await expectJsonError(await callback(redirect.search.slice(1), cookie), 400, "invalid_request");
    expect(tokenHits()).toBe(before);
  });

  it("answers 400 invalid_grant when the IdP refuses the code", async () => {
    const { authorizationUrl, cookie } = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    const params = new URLSearchParams(redirect.search);
    params.set("code", "a-code-the-idp-never-issued");
    await expectJsonError(await callback(params.toString(), cookie), 400, "invalid_grant");
  });
});

describe("token endpoint errors", () => {
  it("needs a grant", async () => {
    await expectJsonError(await postToken(stack, {}), 400, "invalid_request");
    await expectJsonError(
      await postToken(stack, { grant_type: "password" }),
      400,
      "unsupported_grant_type",
    );
    await expectJsonError(
      await postToken(stack, { grant_type: "refresh_token" }),
      400,
      "invalid_request",
    );
  });

  it("refuses a code that no login of this server started, without calling the IdP", async () => {
    const before = tokenHits();
    await expectJsonError(
      await postToken(stack, {
        code: "some-code",
        redirect_uri: "http://127.0.0.1:5000/callback",
        code_verifier: "v".repeat(43),
      }),
      400,
      "invalid_grant",
    );
    await expectJsonError(await postToken(stack, { code: "some-code" }), 400, "invalid_request");
    expect(tokenHits()).toBe(before);
  });

  it("refuses repeated parameters, oversized bodies and unknown content types", async () => {
    const repeated = await fetch(`${stack.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "refresh-token=a&refresh-token=b",
    });
    await expectJsonError(repeated, 400, "invalid_request");
    const huge = await postToken(stack, { "refresh-token": "x".repeat(100_000) });
    await expectJsonError(huge, 413, "invalid_request");
    const many = await fetch(`${stack.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: Array.from({ length: 100 }, (_, i) => `p${i}=1`).join("&"),
    });
    await expectJsonError(many, 400, "invalid_request");
    const xml = await fetch(`${stack.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/xml" },
      body: "<refresh-token>x</refresh-token>",
    });
    await expectJsonError(xml, 400, "invalid_request");
    const badJson = await fetch(`${stack.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{",
    });
    await expectJsonError(badJson, 400, "invalid_request");
  });

  it("accepts a JSON body", async () => {
    const response = await fetch(`${stack.url}/api/auth/v2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ "refresh-token": "unknown" }),
    });
    await expectJsonError(response, 400, "invalid_grant");
  });

  it("refuses token exchange outside broker mode", async () => {
    await expectJsonError(
      await postToken(stack, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: "x",
      }),
      400,
      "unsupported_grant_type",
    );
  });
});

describe("faults of the IdP (injected through a custom fetch)", () => {
  let faulty: Stack;
  let mode: "garbage-device" | "token-500" | "hang" | "none" = "none";
  beforeAll(async () => {
    const injecting: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (mode === "garbage-device" && url.endsWith("/device/auth")) {
        return new Response("<html>not json</html>", {
          status: 200,
          headers: { "content-type": "text/html" },
        });
      }
      if (mode === "token-500" && url.endsWith("/token")) {
        return new Response("upstream exploded", { status: 500 });
      }
      if (mode === "hang" && url.endsWith("/token")) {
        return new Promise<Response>((_, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        });
      }
      return fetch(input, init);
    };
    faulty = await startStack({
      idp: stack.idp,
      env: { OIDC_TIMEOUT_SEC: "0.5" },
      options: { fetch: injecting },
    });
  });
  afterAll(async () => {
    mode = "none";
    await faulty?.close();
  });

  it("a malformed device authorization answer is a 502 JSON error", async () => {
    mode = "garbage-device";
    const discovery = (await (await fetch(stack.idp.discoveryUrl)).json()) as Record<
      string,
      string
    >;
    expect(discovery.device_authorization_endpoint?.endsWith("/device/auth")).toBe(true);
    await expectJsonError(
      await fetch(`${faulty.url}/api/auth/v2/device`, { method: "POST" }),
      502,
      "upstream_error",
    );
  });

  /** A refresh token the faulty stack sealed (it refreshes nothing else). */
  const sealedRefreshToken = async () => {
    mode = "none";
    return (await loginTokens(faulty)).refresh_token as string;
  };

  it("an IdP answering 500 is a 503", async () => {
    const refreshToken = await sealedRefreshToken();
    mode = "token-500";
    await expectJsonError(
      await postToken(faulty, { "refresh-token": refreshToken }),
      503,
      "temporarily_unavailable",
    );
  });

  it("an IdP that does not answer in time is a 503, not a hang", async () => {
    const refreshToken = await sealedRefreshToken();
    mode = "hang";
    const started = Date.now();
    await expectJsonError(
      await postToken(faulty, { "refresh-token": refreshToken }),
      503,
      "temporarily_unavailable",
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("an unreachable IdP at the first request is a 503 for every endpoint that needs it", async () => {
    mode = "none";
    const gone = await startStack();
    await gone.idp.stop();
    try {
      const login = await fetch(
        `${gone.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(gone.redirectUri)}`,
        { redirect: "manual" },
      );
      await expectJsonError(login, 503, "temporarily_unavailable");
      await expectJsonError(
        await fetch(`${gone.url}/api/auth/v2/device`, { method: "POST" }),
        503,
        "temporarily_unavailable",
      );
      await expectJsonError(
        await getWithToken(`${gone.url}/api/auth/v2/userinfo`, "a.b.c"),
        401,
        "invalid_token",
      );
    } finally {
      await gone.close();
    }
  });
});

describe("discovery", () => {
  it("is fetched once for N concurrent first requests", async () => {
    const fresh = await startStack({ idp: stack.idp });
    try {
      stack.idp.resetHits();
      const token = await stack.idp.mintAccessToken("alice");
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? fetch(
                `${fresh.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(fresh.redirectUri)}`,
                {
                  redirect: "manual",
                },
              )
            : getWithToken(`${fresh.url}/api/me`, token),
        ),
      );
      expect(responses.map((r) => r.status).sort()).toEqual([
        ...Array(10).fill(200),
        ...Array(10).fill(302),
      ]);
      expect(stack.idp.hits.get("/.well-known/openid-configuration")).toBe(1);
      expect(stack.idp.hits.get("/jwks")).toBe(1);
    } finally {
      await fresh.close();
    }
  });
});

describe("cookies", () => {
  it("the transaction cookie is sealed: it does not reveal the verifier or state", async () => {
    const response = await fetch(
      `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(stack.redirectUri)}`,
      { redirect: "manual" },
    );
    const cookie = cookieOf(response);
    const state = new URL(response.headers.get("location") as string).searchParams.get(
      "state",
    ) as string;
    expect(cookie).not.toContain(state);
    expect(cookie.split("=")[1]?.split(".")).toHaveLength(5);
  });
});
