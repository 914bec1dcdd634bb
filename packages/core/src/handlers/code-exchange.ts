import type { JWTPayload } from "jose";
import { base64url, jwtVerify } from "jose";
import type * as oauth from "oauth4webapi";
import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { describeError } from "../log.js";
import { jsonResponse } from "../responses.js";

function invalidIdToken(): OIDCAuthError {
  return badRequest("invalid_grant", "The identity provider's ID token is invalid.");
}

/** The hash `at_hash` uses for a JWS algorithm (OpenID Connect Core §3.1.3.6). */
function atHashAlgorithm(alg: string): "SHA-256" | "SHA-384" | "SHA-512" | undefined {
  if (/^(RS|PS|ES)256$/.test(alg)) return "SHA-256";
  if (/^(RS|PS|ES)384$/.test(alg)) return "SHA-384";
  if (/^(RS|PS|ES)512$/.test(alg) || alg === "EdDSA" || alg === "Ed25519") return "SHA-512";
  return undefined;
}

/** `at_hash`: base64url of the left half of the access token's hash. */
async function accessTokenHash(accessToken: string, alg: string): Promise<string | undefined> {
  const hash = atHashAlgorithm(alg);
  if (!hash) return undefined;
  const digest = new Uint8Array(
    await crypto.subtle.digest(hash, new TextEncoder().encode(accessToken)),
  );
  return base64url.encode(digest.slice(0, digest.length / 2));
}

/**
 * The checks on the login's ID token that oauth4webapi leaves to us (it has validated
 * `iss`, `aud`, `azp`, `exp`, `nonce` and the claim types): the signature with the IdP's
 * keys; `iat` not older than a login transaction may live (a replayed or long-cached
 * token) and not in the future; `at_hash`, when present, binding it to the access token.
 */
async function checkIdToken(ctx: AuthContext, tokens: oauth.TokenEndpointResponse): Promise<void> {
  if (!tokens.id_token) return;
  const keys = await ctx.verifier.keySet();
  let payload: JWTPayload;
  let alg: string;
  try {
    const verified = await jwtVerify(tokens.id_token, keys.resolveFromTokenEndpoint, {
      algorithms: ctx.config.algorithms,
      clockTolerance: ctx.config.clockToleranceSec,
    });
    payload = verified.payload;
    alg = verified.protectedHeader.alg;
  } catch (err) {
    if (err instanceof OIDCAuthError) throw err;
    ctx.config.logger.warn("ID token signature rejected", describeError(err));
    throw invalidIdToken();
  }
  const now = Math.floor(Date.now() / 1000);
  const tolerance = ctx.config.clockToleranceSec;
  const iat = payload.iat;
  if (
    typeof iat !== "number" ||
    !Number.isFinite(iat) ||
    iat > now + tolerance ||
    now - iat > ctx.config.transactionTtlSec + tolerance
  ) {
    ctx.config.logger.warn("ID token refused: iat missing, in the future or too old");
    throw invalidIdToken();
  }
  if (payload.at_hash !== undefined) {
    const expected = await accessTokenHash(tokens.access_token, alg);
    if (
      typeof payload.at_hash !== "string" ||
      expected === undefined ||
      payload.at_hash !== expected
    ) {
      ctx.config.logger.warn("ID token refused: at_hash does not match the access token");
      throw invalidIdToken();
    }
  }
}

/** What a code exchange needs: the code, the login's PKCE verifier, nonce and redirect URI. */
export interface CodeExchange {
  code: string;
  authorizationResponse?: URLSearchParams | undefined;
  redirectUri: string;
  codeVerifier: string;
  nonce: string;
}

/**
 * Exchanges a code of a login this server started. The ID token is validated in full:
 * claims and nonce by oauth4webapi, signature, age and `at_hash` here.
 */
export async function exchangeCode(
  ctx: AuthContext,
  input: CodeExchange,
): Promise<oauth.TokenEndpointResponse> {
  const tokens = await ctx.provider.exchangeCode(input);
  await checkIdToken(ctx, tokens);
  return tokens;
}

/** Exchanges a code (see {@link exchangeCode}) and answers with the token as JSON. */
export async function exchangeCodeForToken(
  ctx: AuthContext,
  input: CodeExchange,
  headers: Record<string, string> = {},
): Promise<Response> {
  const tokens = await exchangeCode(ctx, input);
  const answer = ctx.broker
    ? await ctx.broker.login(tokens)
    : await ctx.refreshTokens.answer(tokens);
  return jsonResponse(answer, 200, headers);
}
