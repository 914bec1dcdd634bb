import type { JWTPayload } from "jose";
import { decodeProtectedHeader, jwtVerify } from "jose";
import { sha256Hex } from "../broker/rotation.js";
import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { ExpiringMap } from "../expiring-set.js";
import { describeError } from "../log.js";
import { readForm, singleParam } from "../request-body.js";
import { jsonResponse } from "../responses.js";

/** The `events` member that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout";
/** `typ` values a logout token may carry (absent is accepted too: many IdPs send `JWT`). */
const LOGOUT_TYPES = new Set(["logout+jwt", "application/logout+jwt", "jwt"]);

/** Logout tokens whose `jti` this process has seen, when there is no store to share them. */
const seenHere = new WeakMap<AuthContext, ExpiringMap<true>>();

function invalidLogoutToken(): OIDCAuthError {
  return badRequest("invalid_request", "The logout token is invalid.");
}

/**
 * Checks a logout token as Back-Channel Logout 1.0 §2.6 asks: signed by the IdP (its keys,
 * the configured algorithms), `iss` the IdP, `aud` this client, `iat` recent, `exp` if
 * present, the back-channel `events` member, no `nonce` (so an ID token is never taken for
 * one), and `sid` or `sub`. Answers the verified claims.
 */
async function verifyLogoutToken(ctx: AuthContext, logoutToken: string): Promise<JWTPayload> {
  if (logoutToken.length > ctx.config.maxTokenBytes) throw invalidLogoutToken();
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(logoutToken).typ;
  } catch {
    throw invalidLogoutToken();
  }
  if (typ !== undefined && (typeof typ !== "string" || !LOGOUT_TYPES.has(typ.toLowerCase()))) {
    throw invalidLogoutToken();
  }
  const keys = await ctx.verifier.keySet();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(logoutToken, keys.resolve, {
      issuer: await ctx.provider.issuer(),
      audience: ctx.config.clientId,
      algorithms: ctx.config.algorithms,
      clockTolerance: ctx.config.clockToleranceSec,
      maxTokenAge: ctx.config.transactionTtlSec,
      requiredClaims: ["iat", "jti", "events"],
    }));
  } catch (err) {
    if (err instanceof OIDCAuthError && err.status >= 500) throw err;
    ctx.config.logger.warn("back-channel logout token refused", describeError(err));
    throw invalidLogoutToken();
  }
  const events = payload.events as Record<string, unknown> | undefined;
  const event = events && typeof events === "object" ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  const { sid, sub, jti, nonce } = payload as JWTPayload & { sid?: unknown; nonce?: unknown };
  if (
    !event ||
    typeof event !== "object" ||
    Array.isArray(event) ||
    nonce !== undefined ||
    typeof jti !== "string" ||
    jti.length > 255 ||
    (sid === undefined && sub === undefined) ||
    (sid !== undefined && (typeof sid !== "string" || sid === "" || sid.length > 255)) ||
    (sub !== undefined && (typeof sub !== "string" || sub === "" || sub.length > 255))
  ) {
    ctx.config.logger.warn("back-channel logout token refused: not a logout token");
    throw invalidLogoutToken();
  }
  return payload;
}

/** Records the token's `jti` once: in the store (every instance) in broker mode, else here. */
async function firstUse(ctx: AuthContext, payload: JWTPayload): Promise<boolean> {
  const tolerance = ctx.config.clockToleranceSec;
  const expiresAt =
    Math.max(payload.exp ?? 0, (payload.iat ?? 0) + ctx.config.transactionTtlSec) + tolerance;
  // Hashed: short and of one length whatever the issuer and jti (stores bound ids to 255).
  const id = `backchannel-logout:${await sha256Hex(`${payload.iss} ${payload.jti}`)}`;
  if (ctx.broker) return ctx.broker.useOnce(id, expiresAt);
  let seen = seenHere.get(ctx);
  if (!seen) {
    seen = new ExpiringMap<true>(10_000);
    seenHere.set(ctx, seen);
  }
  return seen.add(id, true, expiresAt * 1000);
}

/**
 * `POST backchannel-logout`: OpenID Connect Back-Channel Logout 1.0. The IdP posts a
 * logout token when a user's session at the IdP ends (logout there, or an admin ending it);
 * every session of that IdP session (`sid`), or of the user (`sub`) when the token names
 * no session, ends: browser sessions and broker sessions alike, on every instance sharing
 * the store. A token is accepted once (`jti`). Answers 200 with no body, or 400.
 */
export async function backchannelLogout(ctx: AuthContext, request: Request): Promise<Response> {
  const form = await readForm(request);
  const logoutToken = singleParam(form, "logout_token", ctx.config.maxTokenBytes);
  if (!logoutToken) throw badRequest("invalid_request", "logout_token is required.");
  const payload = await verifyLogoutToken(ctx, logoutToken);
  if (!(await firstUse(ctx, payload))) {
    ctx.config.logger.warn("back-channel logout token replayed");
    throw invalidLogoutToken();
  }
  const { sid, sub } = payload as { sid?: string; sub?: string };
  const ended = await ctx.sessions.endByIdp({ sid, sub });
  ctx.config.logger.info("back-channel logout", { sessions: ended, by: sid ? "sid" : "sub" });
  return jsonResponse({}, 200);
}
