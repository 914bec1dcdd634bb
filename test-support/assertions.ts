import type { TokenAnswer } from "@oidc-auth/core";
import { expect } from "vitest";

/** The token answer of the endpoints (DESIGN §3), as tests read it. */
export type TokenJson = TokenAnswer;

/**
 * Asserts an oidc-auth error answer: the status (or one of several), a JSON body with the
 * RFC error code (or one of several) and a description, `Cache-Control: no-store`, and no
 * stack trace. Answers the body.
 */
export async function expectJsonError(
  response: Response,
  status: number | number[],
  error?: string | string[],
): Promise<Record<string, string>> {
  const statuses = Array.isArray(status) ? status : [status];
  const text = await response.text();
  expect(statuses, `status ${response.status}: ${text.slice(0, 300)}`).toContain(response.status);
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/);
  const body = JSON.parse(text) as Record<string, string>;
  expect(typeof body.error).toBe("string");
  expect(typeof body.error_description).toBe("string");
  if (error !== undefined) expect(Array.isArray(error) ? error : [error]).toContain(body.error);
  return body;
}
