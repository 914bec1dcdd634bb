import { missingToken, tokenInTwoPlaces } from "./errors.js";

/** `Bearer 1*SP token` (RFC 6750 §2.1), the scheme in any case. */
const BEARER_HEADER = /^bearer +(\S+)$/i;

/**
 * The one reader of the `Authorization` header: the bearer token of a request, or
 * undefined when the request has no Authorization header. Any other scheme or shape is a
 * missing token (401); a token also sent as the `access_token` query parameter is refused
 * (RFC 6750 §3.1: one method only), since only the header is ever read.
 *
 * The token's syntax is not checked here: the verifiers' pre-check (`jwt-checks.ts`)
 * refuses anything that is not a compact JWS in canonical base64url before verifying, and
 * the verified-token cache stores only verified tokens, so a token it holds is valid. The
 * usual spelling `Bearer <token>` is read without a regular expression (the guard's hot path).
 */
export function readBearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  if (header === null) return undefined;
  let token: string | undefined;
  if (header.startsWith("Bearer ") && header.charCodeAt(7) !== 32) {
    token = header.slice(7);
  } else {
    token = BEARER_HEADER.exec(header)?.[1];
    if (token === undefined) throw missingToken();
  }
  if (request.url.includes("access_token") && hasQueryToken(request.url)) {
    throw tokenInTwoPlaces();
  }
  return token;
}

function hasQueryToken(url: string): boolean {
  try {
    return new URL(url).searchParams.has("access_token");
  } catch {
    return false;
  }
}
