/**
 * SECURITY.md "Login, callback, token endpoint": hostile redirect URIs, headers that must
 * not steer anything, stolen callback URLs, scope widening, grant_type, bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../support.js";
import { postToken, startBrowserLogin, startStack } from "../support.js";

let stack: Stack;
let strict: Stack;
beforeAll(async () => {
  stack = await startStack();
  // no loopback rule: only the exact allow-list counts
  strict = await startStack({ idp: stack.idp, env: { OIDC_ALLOW_LOOPBACK_REDIRECTS: "false" } });
});
afterAll(async () => {
  await strict?.close();
  await stack?.close();
});

const login = (s: Stack, redirectUri: string, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(redirectUri)}`, {
    redirect: "manual",
    headers,
  });

describe("redirect_uri and post_logout_redirect_uri", () => {
  const hostile = (base: string) => {
    const u = new URL(base);
    return [
      `${u.protocol}//${u.host}.evil.example${u.pathname}`, // lookalike host
      `${u.protocol}//evil.example@${u.host}${u.pathname}`, // userinfo trick (host stays, but never accepted)
      `${u.protocol}//${u.host}@evil.example${u.pathname}`, // userinfo trick (real host evil)
      `${base}/../../admin`,
      `${base}%2F..%2Fadmin`,
      `${base}?next=https://evil.example`,
      `${base}#fragment`,
      `${base}\r\nSet-Cookie: a=b`,
      `${base}\\@evil.example`,
      base.toUpperCase(),
      `${base}/`,
      base.replace("http:", "https:"),
      "javascript:alert(document.cookie)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "//evil.example/callback",
      "/callback",
      "",
    ];
  };

  it("accepts only the exact configured redirect_uri", async () => {
    expect((await login(strict, strict.redirectUri)).status).toBe(302);
    for (const uri of hostile(strict.redirectUri)) {
      const response = await login(strict, uri);
      expect(response.status, uri).toBe(400);
      expect(response.headers.get("location")).toBeNull();
      expect(await response.text()).not.toContain("evil.example");
    }
  });

  it("with the loopback rule, still refuses every non-loopback or tricked URI", async () => {
    for (const uri of [
      "http://127.0.0.1.evil.example:5000/cb",
      "http://localhost.evil.example/cb",
      "http://127.0.0.1:5000@evil.example/cb",
      "http://evil.example@127.0.0.1:5000/cb",
      "https://127.0.0.1:5000/cb#x",
      "http://[::1]:5000/cb#",
      "http://0x7f000001:5000/cb",
      "http://2130706433:5000/cb",
      "http://127.1:5000/cb",
    ]) {
      expect((await login(stack, uri)).status, uri).toBe(400);
    }
  });

  it("refuses hostile post_logout_redirect_uri values", async () => {
    for (const uri of [...hostile(`${strict.url}/bye`), "https://evil.example/"]) {
      if (uri === "") continue;
      const response = await fetch(
        `${strict.url}/api/auth/v2/logout?post_logout_redirect_uri=${encodeURIComponent(uri)}`,
        { redirect: "manual" },
      );
      if (response.status === 302) {
        // only same-origin paths of the configured public URL may pass
        const target = new URL(response.headers.get("location") as string).searchParams.get(
          "post_logout_redirect_uri",
        );
        expect(target?.startsWith(`${strict.url}/`), uri).toBe(true);
      } else {
        expect(response.status, uri).toBe(400);
      }
    }
  });
});

describe("headers never steer URLs", () => {
  it("ignores Host and X-Forwarded-* when building redirects and defaults", async () => {
    const evilHeaders = {
      "X-Forwarded-Host": "evil.example",
      "X-Forwarded-Proto": "https",
      Forwarded: "host=evil.example;proto=https",
    };
    const response = await login(strict, strict.redirectUri, evilHeaders);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") as string);
    expect(location.searchParams.get("redirect_uri")).toBe(strict.redirectUri);
    expect(response.headers.get("location")).not.toContain("evil.example");
    const logout = await fetch(`${strict.url}/api/auth/v2/logout`, {
      redirect: "manual",
      headers: evilHeaders,
    });
    expect(logout.headers.get("location")).not.toContain("evil.example");
  });
});

describe("transactions", () => {
  it("refuses a stolen callback URL replayed from another browser, without calling the IdP", async () => {
    const { authorizationUrl } = await startBrowserLogin(stack);
    const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
    const before = stack.idp.hits.get("/token") ?? 0;
    // the thief has the URL (e.g. from a log or referrer) but not the victim's cookie
    const stolen = await fetch(`${stack.url}/api/auth/v2/callback${redirect.search}`);
    expect(stolen.status).toBe(400);
    const withOwnLogin = await startBrowserLogin(stack);
    const stolen2 = await fetch(`${stack.url}/api/auth/v2/callback${redirect.search}`, {
      headers: { cookie: withOwnLogin.cookie },
    });
    expect(stolen2.status).toBe(400);
    expect(stack.idp.hits.get("/token") ?? 0).toBe(before);
  });

  it("uses fresh random state, nonce and challenge for every login", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const { authorizationUrl } = await startBrowserLogin(stack);
      const q = new URL(authorizationUrl).searchParams;
      for (const name of ["state", "nonce", "code_challenge"]) {
        const value = q.get(name) as string;
        expect(value.length).toBeGreaterThanOrEqual(43);
        expect(seen.has(value)).toBe(false);
        seen.add(value);
      }
    }
  });
});

describe("scopes", () => {
  it("never widens the configured scopes, and a narrowed login does not change the configuration", async () => {
    const widen = await fetch(
      `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(stack.redirectUri)}&scope=${encodeURIComponent("openid admin")}`,
      { redirect: "manual" },
    );
    expect(widen.status).toBe(400);
    expect(await widen.json()).toMatchObject({ error: "invalid_scope" });
    const narrow = await startBrowserLogin(stack, { scope: "profile" });
    expect(new URL(narrow.authorizationUrl).searchParams.get("scope")).toBe(
      "openid profile offline_access",
    );
    const plain = await startBrowserLogin(stack);
    expect(new URL(plain.authorizationUrl).searchParams.get("scope")).toBe(
      "openid profile email offline_access",
    );
  });
});

describe("token endpoint", () => {
  it("honours grant_type over the parameters present", async () => {
    const response = await postToken(stack, {
      grant_type: "refresh_token",
      code: "abc",
      "device-code": "x",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_request" });
    const device = await postToken(stack, {
      grant_type: "authorization_code",
      "refresh-token": "abc",
    });
    expect(device.status).toBe(400);
  });

  it("answers every error with RFC 6749 §5.2 JSON and Cache-Control: no-store", async () => {
    for (const form of [{}, { grant_type: "password" }, { "refresh-token": "x" }, { code: "x" }]) {
      const response = await postToken(stack, form as Record<string, string>);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("pragma")).toBe("no-cache");
      const body = (await response.json()) as Record<string, unknown>;
      expect(typeof body.error).toBe("string");
    }
  });

  it("bounds body size and parameter count on every POST", async () => {
    for (const path of ["token", "device"]) {
      const big = await fetch(`${stack.url}/api/auth/v2/${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: `scope=${"a".repeat(40_000)}`,
      });
      expect(big.status).toBe(413);
      const many = await fetch(`${stack.url}/api/auth/v2/${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: Array.from({ length: 200 }, (_, i) => `k${i}=v`).join("&"),
      });
      expect(many.status).toBe(400);
    }
  });
});
