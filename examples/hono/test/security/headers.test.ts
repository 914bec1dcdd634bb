/** Security headers on every answer of the auth endpoints, success and failure alike. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "../support.js";
import { browserLogin, loginTokens, postToken, startStack } from "../support.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { OIDC_BROKER_MODE: "true", OIDC_BROKER_STORE_URL: "memory://" },
  });
});
afterAll(async () => {
  await stack?.close();
});

function expectHardened(response: Response, label: string) {
  expect(response.headers.get("cache-control"), label).toBe("no-store");
  expect(response.headers.get("x-content-type-options"), label).toBe("nosniff");
  expect(response.headers.get("referrer-policy"), label).toBe("no-referrer");
}

describe("auth responses", () => {
  it("token answers, redirects and errors are no-store, nosniff, no-referrer", async () => {
    const tokens = await loginTokens(stack);
    const answers: [string, Response][] = [
      ["callback 200", await browserLogin(stack)],
      [
        "login 302",
        await fetch(
          `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(stack.redirectUri)}`,
          { redirect: "manual" },
        ),
      ],
      ["login 400", await fetch(`${stack.url}/api/auth/v2/login`, { redirect: "manual" })],
      ["callback 400", await fetch(`${stack.url}/api/auth/v2/callback?code=a&state=b`)],
      ["token 200", await postToken(stack, { "refresh-token": tokens.refresh_token as string })],
      ["token 400", await postToken(stack, {})],
      ["device 200", await fetch(`${stack.url}/api/auth/v2/device`, { method: "POST" })],
      ["logout 302", await fetch(`${stack.url}/api/auth/v2/logout`, { redirect: "manual" })],
      ["userinfo 401", await fetch(`${stack.url}/api/auth/v2/userinfo`)],
      ["guard 401", await fetch(`${stack.url}/api/me`)],
      ["unknown 404", await fetch(`${stack.url}/api/auth/v2/nothing`)],
    ];
    for (const [label, response] of answers) {
      expectHardened(response, label);
      await response.arrayBuffer();
    }
  });

  it("the JWKS is cacheable for a short time and typed", async () => {
    const response = await fetch(`${stack.url}/api/auth/v2/.well-known/jwks.json`);
    expect(response.headers.get("cache-control")).toMatch(/^public, max-age=\d{1,3}$/);
    expect(response.headers.get("content-type")).toBe("application/jwk-set+json");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
