import type { JWTPayload, ProtectedHeaderParameters } from "jose";
import { invalidToken } from "./errors.js";

/**
 * The checks every JWT a guard verifies goes through, IdP and broker tokens alike: a
 * pre-check of the compact form before anything is decoded or fetched, and a post-check
 * of what jose verified. jose does the verification; these refuse what jose tolerates.
 */

/** Three base64url segments, no padding, nothing else (RFC 7515 §7.1, RFC 7515 §2). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** A UTF-8 byte order mark (EF BB BF) as the first base64url characters of a segment. */
const BOM = "77u_";
/** Deepest nesting of objects and arrays under the payload a token may carry. */
export const MAX_CLAIM_DEPTH = 32;
/**
 * Longest `sub`. OIDC Core §2 caps an IdP's at 255 ASCII characters; the rest is room for
 * federated principals (`<issuer>#<sub>`).
 */
export const MAX_SUBJECT_LENGTH = 1024;

/** The 6-bit value of a base64url character. */
function sextet(code: number): number {
  if (code >= 97) return code - 71; // a-z
  if (code >= 65) return code === 95 ? 63 : code - 65; // A-Z, _
  if (code >= 48) return code + 4; // 0-9
  return 62; // -
}

/**
 * Whether a segment (of base64url characters) is the one canonical encoding of its bytes:
 * no impossible length, and no set bits below the last whole byte. Other spellings decode
 * to the same bytes, which would let one token have many cache keys and many forms.
 */
function isCanonicalSegment(token: string, start: number, end: number): boolean {
  const length = end - start;
  const rest = length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = sextet(token.charCodeAt(end - 1));
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

/**
 * Refuses (401) anything but a compact JWS of at most `maxBytes` in canonical base64url:
 * JWE (five parts), padding (`=`), stray trailing bits, a segment starting with a UTF-8
 * byte order mark (TextDecoder would silently drop it). Decodes nothing.
 */
export function precheckCompactJws(token: string, maxBytes: number): void {
  if (token.length > maxBytes || !COMPACT_JWS.test(token)) throw invalidToken();
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  if (
    !isCanonicalSegment(token, 0, first) ||
    !isCanonicalSegment(token, first + 1, second) ||
    !isCanonicalSegment(token, second + 1, token.length) ||
    token.startsWith(BOM) ||
    token.startsWith(BOM, first + 1)
  ) {
    throw invalidToken();
  }
}

/**
 * Refuses (401) a verified token that jose accepted but a strict relying party does not: a
 * `zip` header (compression is for JWE only, RFC 7516 §4.1.3); `exp`/`iat`/`nbf` that are
 * not integers (`1e309` parses as Infinity and would never expire); `iat` in the future
 * beyond the clock tolerance; a `sub` that is not a non-empty string of sane length;
 * claims nested deeper than {@link MAX_CLAIM_DEPTH}.
 */
export function checkVerifiedJwt(
  header: ProtectedHeaderParameters,
  payload: JWTPayload,
  clockToleranceSec: number,
): void {
  if (header.zip !== undefined) throw invalidToken();
  const { exp, iat, nbf, sub } = payload;
  for (const date of [exp, iat, nbf]) {
    if (date !== undefined && !Number.isSafeInteger(date)) throw invalidToken();
  }
  if (iat !== undefined && iat > Date.now() / 1000 + clockToleranceSec) throw invalidToken();
  if (typeof sub !== "string" || sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) {
    throw invalidToken();
  }
  if (nestedDeeperThan(payload, MAX_CLAIM_DEPTH)) throw invalidToken();
}

/** Whether objects or arrays nest below `value` more than `limit` levels (stops early). */
function nestedDeeperThan(value: object, limit: number): boolean {
  if (limit < 0) return true;
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === "object" && nestedDeeperThan(child, limit - 1)) {
      return true;
    }
  }
  return false;
}
