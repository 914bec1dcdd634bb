import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { MAX_SEALED_REFRESH_TOKEN } from "../passthrough-refresh.js";
import { readForm, singleParam } from "../request-body.js";
import { jsonResponse } from "../responses.js";
import { exchangeCodeForToken } from "./code-exchange.js";
import { exchangeToken } from "./token-exchange.js";

const GRANT_CODE = "authorization_code";
const GRANT_REFRESH = "refresh_token";
const GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code";
const GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** The grant a request asks for: `grant_type` when given, else the parameters present. */
function grantOf(form: URLSearchParams): string {
  const explicit = singleParam(form, "grant_type", 128);
  if (explicit) return explicit;
  if (form.has("code")) return GRANT_CODE;
  if (form.has("refresh-token") || form.has("refresh_token")) return GRANT_REFRESH;
  if (form.has("device-code") || form.has("device_code")) return GRANT_DEVICE;
  throw badRequest("invalid_request", "Send code, refresh-token or device-code.");
}

/** A parameter under its py-oidc-auth name (`refresh-token`) or its RFC name (`refresh_token`). */
function eitherParam(
  form: URLSearchParams,
  dashed: string,
  underscored: string,
  maxLength = 4096,
): string | undefined {
  const a = singleParam(form, dashed, maxLength);
  const b = singleParam(form, underscored, maxLength);
  if (a !== undefined && b !== undefined && a !== b) {
    throw badRequest("invalid_request", `Send ${underscored} once.`);
  }
  return a ?? b;
}

/** `POST token`: code (native and py-client logins), refresh, device polling. */
export async function token(ctx: AuthContext, request: Request): Promise<Response> {
  const form = await readForm(request);
  const grant = grantOf(form);
  switch (grant) {
    case GRANT_CODE:
      return exchangeCode(ctx, form);
    case GRANT_REFRESH: {
      const refreshToken = eitherParam(
        form,
        "refresh-token",
        "refresh_token",
        MAX_SEALED_REFRESH_TOKEN,
      );
      if (!refreshToken) throw badRequest("invalid_request", "refresh_token is required.");
      if (ctx.broker) return jsonResponse(await ctx.broker.refresh(refreshToken));
      // Only refresh tokens this app sealed reach the IdP (with this app's client secret).
      const idpRefreshToken = await ctx.refreshTokens.open(refreshToken);
      if (idpRefreshToken === undefined) {
        throw badRequest("invalid_grant", "The refresh token is invalid, expired or revoked.");
      }
      const tokens = await ctx.provider.refresh(idpRefreshToken);
      return jsonResponse(await ctx.refreshTokens.answer(tokens));
    }
    case GRANT_DEVICE: {
      const deviceCode = eitherParam(form, "device-code", "device_code");
      if (!deviceCode) throw badRequest("invalid_request", "device_code is required.");
      ctx.devicePolls.checkCode(deviceCode);
      ctx.devicePolls.admit(deviceCode); // slow_down here, without asking the IdP
      const tokens = await ctx.provider.pollDeviceCode(deviceCode).catch((err: unknown) => {
        if (err instanceof OIDCAuthError && err.error === "slow_down") {
          ctx.devicePolls.slowedDown(deviceCode);
        }
        throw err;
      });
      return jsonResponse(
        ctx.broker ? await ctx.broker.login(tokens) : await ctx.refreshTokens.answer(tokens),
      );
    }
    case GRANT_EXCHANGE:
      // Off unless configured (tokenExchange needs broker mode): see SECURITY.md.
      if (!ctx.broker || !ctx.config.tokenExchange)
        throw badRequest("unsupported_grant_type", "Token exchange is not enabled.");
      return jsonResponse(await exchangeToken(ctx, ctx.broker, form));
    default:
      throw badRequest("unsupported_grant_type", "This grant type is not supported.");
  }
}

/**
 * Code exchange for clients that received the IdP's redirect themselves. The code must
 * belong to a login this server started: a native client's verifier must answer a
 * challenge sent through `login`; in py-client compat mode the "verifier" is the sealed
 * blob from `state`.
 */
async function exchangeCode(ctx: AuthContext, form: URLSearchParams): Promise<Response> {
  const code = singleParam(form, "code", 2048);
  const redirectUri = singleParam(form, "redirect_uri", 2048);
  const verifier = singleParam(form, "code_verifier", 4096);
  if (!code || !redirectUri || !verifier) {
    throw badRequest("invalid_request", "code, redirect_uri and code_verifier are required.");
  }
  const refused = () =>
    badRequest("invalid_grant", "The code does not belong to a login started here.");
  if (VERIFIER.test(verifier)) {
    const tx = await ctx.transactions.takeNative(verifier);
    if (!tx || tx.redirectUri !== redirectUri) throw refused();
    return exchangeCodeForToken(ctx, {
      code,
      redirectUri,
      codeVerifier: verifier,
      nonce: tx.nonce,
    });
  }
  const tx = await ctx.transactions.fromCompatVerifier(verifier);
  if (!tx?.verifier || tx.redirectUri !== redirectUri || !ctx.transactions.consume(tx))
    throw refused();
  return exchangeCodeForToken(ctx, {
    code,
    redirectUri,
    codeVerifier: tx.verifier,
    nonce: tx.nonce,
  });
}
