/**
 * SECURITY.md "token exchange" (RFC 8693): off unless configured; targets it cannot serve,
 * half an actor, and unacceptable subjects are refused with RFC 8693's codes; exchanged
 * tokens never outlive their subject.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectJsonError } from "../../../../test-support/assertions.js";
import type { Stack } from "../support.js";
import { postToken, startStack } from "../support.js";

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS = "urn:ietf:params:oauth:token-type:access_token";
const BROKER_ENV = {
  OIDC_BROKER_MODE: "true",
  OIDC_BROKER_STORE_URL: "memory://",
  OIDC_BROKER_AUDIENCE: "exchange-api",
};

let enabled: Stack;
let disabled: Stack;
beforeAll(async () => {
  enabled = await startStack({ env: { ...BROKER_ENV, OIDC_TOKEN_EXCHANGE: "true" } });
  disabled = await startStack({ idp: enabled.idp, env: BROKER_ENV });
});
afterAll(async () => {
  await disabled?.close();
  await enabled?.close();
});

const exchange = (stack: Stack, form: Record<string, string>) =>
  postToken(stack, { grant_type: EXCHANGE, ...form });
const subject = (opts?: Parameters<Stack["idp"]["mintAccessToken"]>[1]) =>
  enabled.idp.mintAccessToken("bob", opts);

describe("who may exchange", () => {
  it("is off by default: a valid subject gets 400 unsupported_grant_type, the IdP is not asked", async () => {
    const token = await subject();
    const before = enabled.idp.hits.get("/jwks") ?? 0;
    await expectJsonError(
      await exchange(disabled, { subject_token: token, subject_token_type: ACCESS }),
      400,
      "unsupported_grant_type",
    );
    expect(enabled.idp.hits.get("/jwks") ?? 0).toBe(before);
  });

  it("exchanges when tokenExchange is on", async () => {
    const response = await exchange(enabled, {
      subject_token: await subject(),
      subject_token_type: ACCESS,
    });
    expect(response.status).toBe(200);
  });
});

describe("targets", () => {
  it("refuses an audience or resource it cannot serve with invalid_target", async () => {
    const token = await subject();
    for (const target of [
      { audience: "another-api" },
      { audience: "exchange-api", resource: "https://other.example/api" },
      { resource: "https://other.example/api" },
      { resource: `${enabled.url}/elsewhere` },
    ] as Record<string, string>[]) {
      await expectJsonError(
        await exchange(enabled, { subject_token: token, subject_token_type: ACCESS, ...target }),
        400,
        "invalid_target",
      );
    }
  });

  it("refuses a resource that is not an absolute URI with invalid_request", async () => {
    await expectJsonError(
      await exchange(enabled, {
        subject_token: await subject(),
        subject_token_type: ACCESS,
        resource: "not a uri",
      }),
      400,
      "invalid_request",
    );
  });

  it("serves its own audience, named as audience or as resource", async () => {
    const token = await subject();
    for (const target of [
      { audience: "exchange-api" },
      { resource: enabled.url },
      { audience: "exchange-api", resource: enabled.url },
    ] as Record<string, string>[]) {
      const response = await exchange(enabled, {
        subject_token: token,
        subject_token_type: ACCESS,
        ...target,
      });
      expect(response.status, JSON.stringify(target)).toBe(200);
      const { access_token } = (await response.json()) as { access_token: string };
      expect(decodeJwt(access_token).aud).toBe("exchange-api");
    }
  });
});

describe("actors", () => {
  it("refuses actor_token_type without actor_token, and actor_token without its type", async () => {
    const token = await subject();
    for (const actor of [{ actor_token_type: ACCESS }, { actor_token: token }] as Record<
      string,
      string
    >[]) {
      await expectJsonError(
        await exchange(enabled, { subject_token: token, subject_token_type: ACCESS, ...actor }),
        400,
        "invalid_request",
      );
    }
  });
});

describe("lifetimes", () => {
  it("never mints a token that outlives the subject token", async () => {
    const token = await subject({ expiresInSec: 60 });
    const subjectExp = decodeJwt(token).exp as number;
    const response = await exchange(enabled, { subject_token: token, subject_token_type: ACCESS });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      access_token: string;
      expires_in: number;
      expires: number;
    };
    const claims = decodeJwt(body.access_token);
    expect(claims.exp as number).toBeLessThanOrEqual(subjectExp);
    expect(body.expires_in).toBeLessThanOrEqual(60);
    expect(body.expires).toBeLessThanOrEqual(subjectExp);
  });
});

describe("error codes (RFC 8693 §2.2.2)", () => {
  it("answers malformed requests and unacceptable subjects with invalid_request, never invalid_grant", async () => {
    const expired = await subject({ expiresInSec: -120 });
    const foreign = await subject({ audience: "someone-else" });
    for (const form of [
      {},
      { subject_token: "garbage", subject_token_type: ACCESS },
      { subject_token: expired, subject_token_type: ACCESS },
      { subject_token: foreign, subject_token_type: ACCESS },
      { subject_token: await subject() },
      { subject_token: await subject(), subject_token_type: "urn:example:unknown" },
    ]) {
      await expectJsonError(
        await exchange(enabled, form as Record<string, string>),
        400,
        "invalid_request",
      );
    }
  });
});
