import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack, TokenJson } from "./support.js";
import { postToken, startStack } from "./support.js";

/**
 * py-oidc-auth-client's browser login, replayed step by step: it sends a loopback
 * redirect_uri to `login`, receives the IdP's redirect itself, takes `code_verifier` from
 * the last `|` segment of `state` and posts code, redirect_uri and code_verifier to `token`.
 */
async function pyClientLogin(stack: Stack, port = 53682) {
  const redirectUri = `http://localhost:${port}/callback`;
  const login = await fetch(
    `${stack.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent(redirectUri)}&offline_access=true`,
    { redirect: "manual" },
  );
  expect(login.status).toBe(302);
  const redirect = await stack.idp.completeLogin(
    login.headers.get("location") as string,
    "alice",
    "alice-password",
  );
  expect(redirect.origin).toBe(`http://localhost:${port}`);
  const state = redirect.searchParams.get("state") as string;
  const codeVerifier = state.split("|").at(-1) as string;
  const code = redirect.searchParams.get("code") as string;
  return { redirectUri, state, codeVerifier, code };
}

describe("py-oidc-auth-client compatibility (pyClientCompat on)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { OIDC_PY_CLIENT_COMPAT: "true" } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("serves the client's browser login unchanged", async () => {
    const { redirectUri, codeVerifier, code } = await pyClientLogin(stack);
    const response = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as TokenJson;
    expect(body.token_type).toBe("Bearer");
    expect(typeof body.refresh_token).toBe("string");
    const refreshed = await postToken(stack, { "refresh-token": body.refresh_token as string });
    expect(refreshed.status).toBe(200);
  });

  it("puts a sealed blob, not a raw verifier, in state", async () => {
    const { state, codeVerifier } = await pyClientLogin(stack);
    expect(state.split("|")).toHaveLength(2);
    expect(codeVerifier.split(".")).toHaveLength(5); // compact JWE
    expect(codeVerifier).not.toMatch(/^[A-Za-z0-9\-._~]{43,128}$/);
  });

  it("refuses the blob with another redirect_uri, tampered, or twice", async () => {
    const { redirectUri, codeVerifier, code } = await pyClientLogin(stack);
    const other = await postToken(stack, {
      code,
      redirect_uri: "http://localhost:1/callback",
      code_verifier: codeVerifier,
    });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: "invalid_grant" });
    const parts = codeVerifier.split(".");
    parts[3] = `${parts[3]?.slice(0, -2)}AA`;
    const tampered = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: parts.join("."),
    });
    expect(tampered.status).toBe(400);
    const first = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });
    expect(first.status).toBe(200);
    const replay = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: "invalid_grant" });
  });
});

describe("without pyClientCompat (the default)", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("keeps the verifier out of state, so the client's trick yields nothing", async () => {
    const { redirectUri, state, codeVerifier, code } = await pyClientLogin(stack);
    expect(state).not.toContain("|");
    const response = await postToken(stack, {
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_grant" });
  });
});
