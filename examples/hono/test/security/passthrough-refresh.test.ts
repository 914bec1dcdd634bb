/**
 * SECURITY.md "Passthrough refresh": the token endpoint refreshes only the IdP refresh
 * tokens this app handed out (sealed with its secret), so it is no open confidential-client
 * proxy for IdP refresh tokens obtained elsewhere for the same client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack, TokenJson } from "../support.js";
import { loginTokens, postToken, startStack } from "../support.js";

/** The refresh tokens the IdP's token endpoint answered, as the app received them. */
const idpRefreshTokens: string[] = [];
const recording: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = String(input instanceof Request ? input.url : input);
  if (url.endsWith("/token") && response.ok) {
    const body = (await response.clone().json()) as { refresh_token?: string };
    if (body.refresh_token) idpRefreshTokens.push(body.refresh_token);
  }
  return response;
};

let stack: Stack;
let other: Stack;
beforeAll(async () => {
  stack = await startStack({ options: { fetch: recording } });
  // the same IdP client, another instance secret
  other = await startStack({
    idp: stack.idp,
    env: { OIDC_SECRET: "another-secret-another-secret-another-01" },
  });
});
afterAll(async () => {
  await other?.close();
  await stack?.close();
});

const idpTokenCalls = () => stack.idp.hits.get("/token") ?? 0;

describe("passthrough refresh tokens", () => {
  it("hands out the IdP's refresh token sealed, never as it is", async () => {
    idpRefreshTokens.length = 0;
    const tokens = await loginTokens(stack);
    const raw = idpRefreshTokens.at(-1) as string;
    expect(typeof raw).toBe("string");
    expect(tokens.refresh_token).not.toBe(raw);
    expect(tokens.refresh_token).not.toContain(raw);
    expect(tokens.refresh_token?.split(".")).toHaveLength(5); // compact JWE
  });

  it("refreshes the sealed token it handed out, and seals the next one", async () => {
    const first = await loginTokens(stack);
    idpRefreshTokens.length = 0;
    const response = await postToken(stack, { "refresh-token": first.refresh_token as string });
    expect(response.status).toBe(200);
    const second = (await response.json()) as TokenJson;
    expect(second.refresh_token?.split(".")).toHaveLength(5);
    expect(second.refresh_token).not.toBe(idpRefreshTokens.at(-1));
  });

  it("refuses a raw IdP refresh token of the same client with 400 invalid_grant, without calling the IdP", async () => {
    idpRefreshTokens.length = 0;
    await loginTokens(stack);
    const raw = idpRefreshTokens.at(-1) as string; // valid at the IdP, obtained outside the answer
    const before = idpTokenCalls();
    for (const form of [
      { "refresh-token": raw },
      { grant_type: "refresh_token", refresh_token: raw },
    ] as Record<string, string>[]) {
      await expectJsonError(await postToken(stack, form), 400, "invalid_grant");
    }
    expect(idpTokenCalls()).toBe(before);
  });

  it("refuses a tampered sealed token and one sealed by another instance, without calling the IdP", async () => {
    const mine = (await loginTokens(stack)).refresh_token as string;
    const theirs = (await loginTokens(other)).refresh_token as string;
    const parts = mine.split(".");
    parts[3] = `${parts[3]?.slice(0, -2)}AA`;
    const before = idpTokenCalls();
    for (const token of [parts.join("."), theirs, `${mine}x`, "a.b.c.d.e"]) {
      await expectJsonError(
        await postToken(stack, { "refresh-token": token }),
        400,
        "invalid_grant",
      );
    }
    expect(idpTokenCalls()).toBe(before);
    // each instance still refreshes its own
    expect((await postToken(other, { "refresh-token": theirs })).status).toBe(200);
  });
});
