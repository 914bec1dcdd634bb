import { decodeJwt } from "jose";
import type { Broker } from "../broker/broker.js";
import type { BrokerIdentity } from "../broker/identity.js";
import type { IDToken } from "../claims.js";
import { tokenScopes } from "../claims.js";
import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { singleParam } from "../request-body.js";

const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const SUBJECT_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TYPE]);

/** The token-exchange answer (RFC 8693 §2.2.1) in the wire format of the other grants. */
export interface TokenExchangeAnswer {
  access_token: string;
  issued_token_type: typeof ACCESS_TOKEN_TYPE;
  token_type: "Bearer";
  expires: number;
  expires_in: number;
  scope: string;
}

/** RFC 8693 §2.2.2: an unacceptable subject token is `invalid_request`, not `invalid_grant`. */
function invalidSubject(): OIDCAuthError {
  return badRequest("invalid_request", "The subject token is invalid, expired or not trusted.");
}

function isAbsoluteUri(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * `audience` and `resource` (RFC 8693 §2.1, RFC 8707), each may repeat: the broker issues
 * tokens for one audience only, its `brokerAudience` (the resource: that value or the
 * app's public URL). Anything else is a target it cannot serve: `invalid_target`.
 */
function checkTargets(ctx: AuthContext, form: URLSearchParams): void {
  const { brokerAudience, proxy } = ctx.config;
  for (const audience of form.getAll("audience")) {
    if (audience.length > 2048) throw badRequest("invalid_request", "audience is too long.");
    if (audience !== brokerAudience) {
      throw badRequest("invalid_target", "Tokens can be issued for this broker's audience only.");
    }
  }
  for (const resource of form.getAll("resource")) {
    if (resource.length > 2048 || !isAbsoluteUri(resource) || resource.includes("#")) {
      throw badRequest("invalid_request", "resource must be an absolute URI without fragment.");
    }
    if (resource !== brokerAudience && resource !== proxy) {
      throw badRequest("invalid_target", "Tokens can be issued for this broker's audience only.");
    }
  }
}

/** RFC 8693 §2.1: `actor_token_type` comes with `actor_token` and only with it. */
function checkActor(form: URLSearchParams): void {
  const actor = singleParam(form, "actor_token", 8192);
  const actorType = singleParam(form, "actor_token_type", 128);
  if (actor !== undefined && actorType === undefined) {
    throw badRequest("invalid_request", "actor_token needs actor_token_type.");
  }
  if (actor === undefined && actorType !== undefined) {
    throw badRequest("invalid_request", "actor_token_type without actor_token.");
  }
  if (actor !== undefined) {
    throw badRequest("invalid_request", "Delegation (actor_token) is not supported.");
  }
}

/** Verifies the subject: a trusted peer's broker token, or an access token of our IdP. */
async function verifySubject(
  ctx: AuthContext,
  broker: Broker,
  subjectToken: string,
): Promise<IDToken> {
  let iss: unknown;
  try {
    iss = decodeJwt(subjectToken).iss;
  } catch {
    throw invalidSubject();
  }
  if (iss === ctx.config.brokerIssuer) {
    throw badRequest("invalid_request", "The subject token is already a token of this broker.");
  }
  try {
    if (typeof iss === "string" && ctx.config.trustedIssuers.includes(iss)) {
      return await broker.verifier.verify(subjectToken);
    }
    const token = await ctx.verifier.verify(subjectToken);
    if (!ctx.config.audience) {
      // Without a configured audience, the subject must at least have been issued to us.
      const aud = Array.isArray(token.aud) ? token.aud : [token.aud];
      const client = token.azp ?? token.client_id;
      if (client !== ctx.config.clientId && !aud.includes(ctx.config.clientId))
        throw invalidSubject();
    }
    return token;
  } catch (err) {
    if (err instanceof OIDCAuthError && err.status >= 500) throw err;
    throw invalidSubject();
  }
}

/**
 * RFC 8693 token exchange (broker mode, `tokenExchange` on): an IdP access token or a
 * trusted peer's broker token becomes a local broker token. `subject_token_type` is
 * required; the requested scopes must be a subset of the subject's; the only target is
 * this broker's audience; the minted token never outlives the subject token. Malformed
 * requests and unacceptable subject tokens are `invalid_request` (RFC 8693 §2.2.2). Peer
 * principals keep their issuer in `sub`, so they can never pass for a local user of the
 * same name.
 */
export async function exchangeToken(
  ctx: AuthContext,
  broker: Broker,
  form: URLSearchParams,
): Promise<TokenExchangeAnswer> {
  const subjectToken = singleParam(form, "subject_token", ctx.config.maxTokenBytes);
  const subjectType = singleParam(form, "subject_token_type", 128);
  if (!subjectToken || !subjectType) {
    throw badRequest("invalid_request", "subject_token and subject_token_type are required.");
  }
  if (!SUBJECT_TYPES.has(subjectType)) {
    throw badRequest("invalid_request", "subject_token_type is not supported.");
  }
  const requestedType = singleParam(form, "requested_token_type", 128);
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
    throw badRequest("invalid_request", "Only access tokens can be issued.");
  }
  checkActor(form);
  checkTargets(ctx, form);
  const subject = await verifySubject(ctx, broker, subjectToken);
  const granted = tokenScopes(subject);
  const requested = singleParam(form, "scope", 1024);
  let scope = [...granted].join(" ");
  if (requested !== undefined) {
    const asked = requested.split(" ").filter(Boolean);
    if (asked.some((s) => !granted.has(s))) {
      throw badRequest("invalid_scope", "The requested scope exceeds the subject token's.");
    }
    scope = asked.join(" ");
  }
  const fromPeer =
    subject.iss !== (await ctx.provider.issuer().catch(() => undefined)) &&
    ctx.config.trustedIssuers.includes(subject.iss);
  const identity: BrokerIdentity = {
    sub: fromPeer ? `${subject.iss}#${subject.sub}` : subject.sub,
    roles: subject.roles,
  };
  for (const key of ["preferred_username", "email", "given_name", "family_name", "name"] as const) {
    if (typeof subject[key] === "string") identity[key] = subject[key] as string;
  }
  if (typeof subject.email_verified === "boolean") identity.email_verified = subject.email_verified;
  // The exchanged token never outlives its subject (verified, so exp is a number).
  const { token, expiresIn } = await broker.mint(identity, scope, undefined, subject.exp);
  const t = Math.floor(Date.now() / 1000);
  return {
    access_token: token,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: "Bearer",
    expires: t + expiresIn,
    expires_in: expiresIn,
    scope,
  };
}
