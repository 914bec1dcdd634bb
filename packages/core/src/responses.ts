import { decodeJwt } from "jose";
import type * as oauth from "oauth4webapi";
import { NO_STORE_HEADERS } from "./errors.js";

/** A JSON answer that no cache keeps. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...NO_STORE_HEADERS, ...headers },
  });
}

/** A redirect (302, or 303 after a POST) that no cache keeps and that leaks no referrer. */
export function redirectResponse(
  location: string | URL,
  headers: Record<string, string> = {},
  status: 302 | 303 = 302,
): Response {
  return new Response(null, {
    status,
    headers: {
      Location: String(location),
      "Cache-Control": "no-store",
      "Referrer-Policy": "no-referrer",
      "X-Content-Type-Options": "nosniff",
      ...headers,
    },
  });
}

/** The token answer py-oidc-auth-client reads (DESIGN §3). */
export interface TokenAnswer {
  access_token: string;
  token_type: "Bearer";
  expires: number;
  expires_in: number;
  refresh_token?: string;
  refresh_expires?: number;
  scope: string;
}

/** When the IdP says nothing about refresh-token lifetime, clients are told this. */
const FALLBACK_REFRESH_LIFETIME_SEC = 30 * 24 * 3600;

function refreshExpiry(tokens: oauth.TokenEndpointResponse, now: number): number {
  const explicit = tokens.refresh_expires_in;
  if (typeof explicit === "number" && explicit > 0) return now + explicit;
  if (tokens.refresh_token && tokens.refresh_token.split(".").length === 3) {
    try {
      // Only a hint for the client (when to stop trying to refresh), never trusted here.
      const { exp } = decodeJwt(tokens.refresh_token);
      if (typeof exp === "number" && exp > now) return exp;
    } catch {
      // opaque after all
    }
  }
  return now + FALLBACK_REFRESH_LIFETIME_SEC;
}

/** Maps an IdP token response to the wire format. */
export function tokenAnswer(
  tokens: oauth.TokenEndpointResponse,
  now = Math.floor(Date.now() / 1000),
): TokenAnswer {
  const expiresIn = typeof tokens.expires_in === "number" ? tokens.expires_in : 300;
  const answer: TokenAnswer = {
    access_token: tokens.access_token,
    token_type: "Bearer",
    expires: now + expiresIn,
    expires_in: expiresIn,
    scope: tokens.scope ?? "",
  };
  if (tokens.refresh_token) {
    answer.refresh_token = tokens.refresh_token;
    answer.refresh_expires = refreshExpiry(tokens, now);
  }
  return answer;
}
