/**
 * SECURITY.md "Errors and logs": every flow, failures included, runs with a logger that
 * keeps every line at every level; no token, code, verifier, secret or Authorization value
 * may appear in any of them.
 */

import type { Logger } from "@oidc-auth/hono";
import { calculatePKCECodeChallenge, generateRandomCodeVerifier } from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack, TokenJson } from "../support.js";
import { getWithToken, postToken, startBrowserLogin, startStack, TEST_SECRET } from "../support.js";

const lines: string[] = [];
/** Each line with the `appName` of the app that wrote it. */
const tagged: { appName: string; line: string; fields: Record<string, unknown> | undefined }[] = [];
function capture(appName: string): Logger {
  const record = (level: string) => (m: string, f?: Record<string, unknown>) => {
    const line = `${level} ${m} ${JSON.stringify(f ?? {})}`;
    lines.push(line);
    tagged.push({ appName, line, fields: f });
  };
  return {
    debug: record("debug"),
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  };
}

/** Everything that must never be logged. */
const secrets = new Set<string>();
const remember = (...values: (string | undefined | null)[]) => {
  for (const v of values) if (v && v.length >= 8) secrets.add(v);
};

let idpDown = false;
const recording: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  if (idpDown && url.endsWith("/token")) throw new TypeError("fetch failed");
  const response = await fetch(input, init);
  if (url.endsWith("/token")) {
    const body = (await response
      .clone()
      .json()
      .catch(() => ({}))) as Record<string, string>;
    remember(body.access_token, body.refresh_token, body.id_token);
  }
  return response;
};

let passthrough: Stack;
let broker: Stack;
beforeAll(async () => {
  passthrough = await startStack({
    env: { OIDC_PY_CLIENT_COMPAT: "true", OIDC_APP_NAME: "shop-passthrough" },
    options: { logger: capture("shop-passthrough"), fetch: recording },
  });
  broker = await startStack({
    idp: passthrough.idp,
    env: {
      OIDC_BROKER_MODE: "true",
      OIDC_BROKER_STORE_URL: "memory://",
      OIDC_TOKEN_EXCHANGE: "true",
      OIDC_APP_NAME: "shop-broker",
    },
    options: { logger: capture("shop-broker"), fetch: recording },
  });
  remember(TEST_SECRET, "oidc-auth-demo-secret");
});
afterAll(async () => {
  idpDown = false;
  await broker?.close();
  await passthrough?.close();
});

async function browserLogin(stack: Stack) {
  const { authorizationUrl, cookie } = await startBrowserLogin(stack);
  const q = new URL(authorizationUrl).searchParams;
  remember(q.get("state"), q.get("nonce"), q.get("code_challenge"), cookie.split("=")[1]);
  const redirect = await stack.idp.completeLogin(authorizationUrl, "alice", "alice-password");
  remember(redirect.searchParams.get("code"));
  const response = await fetch(`${stack.url}/api/auth/v2/callback${redirect.search}`, {
    headers: { cookie },
  });
  const tokens = (await response.json()) as TokenJson;
  remember(tokens.access_token, tokens.refresh_token);
  return { tokens, redirect, cookie };
}

describe("no secret in any log line, at debug level", () => {
  it("runs every flow and failure path", async () => {
    for (const stack of [passthrough, broker]) {
      const { tokens, redirect, cookie } = await browserLogin(stack);
      // replayed and forged callbacks
      await fetch(`${stack.url}/api/auth/v2/callback${redirect.search}`, { headers: { cookie } });
      await fetch(
        `${stack.url}/api/auth/v2/callback?code=${redirect.searchParams.get("code")}&state=forged`,
      );
      // guards, userinfo
      await getWithToken(`${stack.url}/api/me`, tokens.access_token);
      await getWithToken(`${stack.url}/api/admin`, tokens.access_token);
      await getWithToken(`${stack.url}/api/me`, `${tokens.access_token}x`);
      await fetch(`${stack.url}/api/me`, {
        headers: { authorization: `Basic ${btoa("alice:alice-password")}` },
      });
      remember(btoa("alice:alice-password"), "alice-password");
      await getWithToken(`${stack.url}/api/auth/v2/userinfo`, tokens.access_token);
      // refresh, refresh replay, refresh with the IdP down, unknown refresh
      const refreshed = (await (
        await postToken(stack, { "refresh-token": tokens.refresh_token as string })
      ).json()) as TokenJson;
      remember(refreshed.access_token, refreshed.refresh_token);
      await postToken(stack, { "refresh-token": tokens.refresh_token as string });
      idpDown = true;
      await postToken(stack, { "refresh-token": refreshed.refresh_token as string });
      idpDown = false;
      await postToken(stack, { "refresh-token": "an-unknown-refresh-token-value" });
      remember("an-unknown-refresh-token-value");
      // the IdP refusing a code
      const bogus = "a-bogus-authorization-code-value";
      remember(bogus);
      const second = await startBrowserLogin(stack);
      const secondRedirect = await stack.idp.completeLogin(
        second.authorizationUrl,
        "bob",
        "bob-password",
      );
      remember(secondRedirect.searchParams.get("code"), secondRedirect.searchParams.get("state"));
      const forgedCode = new URLSearchParams(secondRedirect.search);
      forgedCode.set("code", bogus);
      await fetch(`${stack.url}/api/auth/v2/callback?${forgedCode}`, {
        headers: { cookie: second.cookie },
      });
      // native client with its own verifier; wrong verifier
      const verifier = generateRandomCodeVerifier();
      remember(verifier);
      const native = await fetch(
        `${stack.url}/api/auth/v2/login?${new URLSearchParams({
          redirect_uri: "http://127.0.0.1:45678/cb",
          code_challenge: await calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
        })}`,
        { redirect: "manual" },
      );
      const nativeRedirect = await stack.idp.completeLogin(
        native.headers.get("location") as string,
        "alice",
        "alice-password",
      );
      remember(nativeRedirect.searchParams.get("code"));
      await postToken(stack, {
        code: nativeRedirect.searchParams.get("code") as string,
        redirect_uri: "http://127.0.0.1:45678/cb",
        code_verifier: generateRandomCodeVerifier(),
      });
      const nativeTokens = (await (
        await postToken(stack, {
          code: nativeRedirect.searchParams.get("code") as string,
          redirect_uri: "http://127.0.0.1:45678/cb",
          code_verifier: verifier,
        })
      ).json()) as TokenJson;
      remember(nativeTokens.access_token, nativeTokens.refresh_token);
      // device flow: pending, approved, unknown code
      const device = (await (
        await fetch(`${stack.url}/api/auth/v2/device`, { method: "POST" })
      ).json()) as Record<string, string>;
      remember(device.device_code, device.user_code);
      await postToken(stack, { "device-code": device.device_code as string });
      await stack.idp.approveDevice(device.user_code as string, "bob", "bob-password");
      await new Promise((r) => setTimeout(r, Number(device.interval) * 1000)); // no slow_down
      const deviceTokens = (await (
        await postToken(stack, { "device-code": device.device_code as string })
      ).json()) as TokenJson;
      remember(deviceTokens.access_token, deviceTokens.refresh_token);
      // token exchange and logout
      const subject = await stack.idp.mintAccessToken("bob");
      remember(subject);
      await postToken(stack, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: subject,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      });
      await fetch(`${stack.url}/api/auth/v2/logout`, {
        method: "POST",
        headers: { authorization: `Bearer ${deviceTokens.access_token}` },
        redirect: "manual",
      });
    }
    // py-oidc-auth-client compat: the sealed verifier in state
    const compat = await fetch(
      `${passthrough.url}/api/auth/v2/login?redirect_uri=${encodeURIComponent("http://localhost:45679/callback")}`,
      { redirect: "manual" },
    );
    const compatRedirect = await passthrough.idp.completeLogin(
      compat.headers.get("location") as string,
      "alice",
      "alice-password",
    );
    const sealedVerifier = (compatRedirect.searchParams.get("state") as string)
      .split("|")
      .at(-1) as string;
    remember(sealedVerifier, compatRedirect.searchParams.get("code"));
    await postToken(passthrough, {
      code: compatRedirect.searchParams.get("code") as string,
      redirect_uri: "http://localhost:45679/callback",
      code_verifier: sealedVerifier,
    });

    expect(lines.length).toBeGreaterThan(5); // the failure paths did log something
    expect(secrets.size).toBeGreaterThan(30);
    const all = lines.join("\n");
    for (const secret of secrets) {
      expect(all.includes(secret), `a log line contains a secret (${secret.slice(0, 6)}…)`).toBe(
        false,
      );
    }
    expect(all).not.toMatch(/Bearer\s+\S/);
    expect(all).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack traces
  });

  it("names the app (appName) in every line of that run, at every level", () => {
    expect(tagged.length).toBe(lines.length);
    const apps = new Set(tagged.map((t) => t.appName));
    expect(apps).toEqual(new Set(["shop-passthrough", "shop-broker"]));
    const levels = new Set(lines.map((line) => line.split(" ")[0]));
    expect(levels.size).toBeGreaterThanOrEqual(2);
    for (const { appName, line, fields } of tagged) {
      expect(fields?.app, `a log line without its app: ${line.slice(0, 120)}`).toBe(appName);
    }
  });
});
