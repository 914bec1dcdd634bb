import { generateRandomState } from "oauth4webapi";
import type { AuthContext } from "../context.js";
import { badRequest } from "../errors.js";
import { checkPostLogoutRedirectUri } from "../redirect-uris.js";
import { readForm, singleParam } from "../request-body.js";
import { redirectResponse } from "../responses.js";

const CALLER_STATE = /^[\x21-\x7e]{1,512}$/;

/**
 * `POST logout` with a credential revokes the session: a bearer token in Authorization or
 * the refresh token posted as `refresh-token`/`refresh_token`. Broker mode ends the broker
 * session (and the IdP refresh token where the IdP offers revocation); passthrough mode
 * revokes the IdP refresh token inside a sealed refresh token this app handed out.
 */
async function revokeSession(ctx: AuthContext, request: Request, form: URLSearchParams) {
  const credential =
    singleParam(form, "refresh-token", 8192) ?? singleParam(form, "refresh_token", 8192);
  if (credential === undefined && !request.headers.has("authorization")) {
    // A browser's session: only from the app's own pages (Origin) or with its CSRF token.
    if (ctx.sessions.present(request)) {
      await ctx.sessions.end(request, singleParam(form, "csrf_token", 256));
    }
    return;
  }
  const broker = ctx.broker;
  if (!broker) {
    const idpRefreshToken = credential ? await ctx.refreshTokens.open(credential) : undefined;
    if (idpRefreshToken) await ctx.provider.revoke(idpRefreshToken);
    return;
  }
  if (credential) {
    await broker.revoke({ refreshCredential: credential });
    return;
  }
  if (request.headers.has("authorization")) {
    const token = await ctx.requireToken(request);
    await broker.revoke({ token });
  }
}

/**
 * `GET|POST logout`: RP-initiated logout. Redirects to the IdP's `end_session_endpoint`
 * with `client_id`, the (allow-listed) `post_logout_redirect_uri` and a `state` (the
 * caller's, or a random one); without such an endpoint, straight to that URI, or to `/`.
 * Only `POST` with a credential revokes anything (a cross-site `GET`, a link or an image,
 * cannot end a session), and it answers 303 so the browser follows with a `GET`. A
 * browser's session cookie is such a credential when the POST comes from the app's own
 * origin or carries the session's `csrf_token`; its session ends and the cookie is cleared.
 */
export async function logout(ctx: AuthContext, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const form = request.method === "POST" ? await readForm(request) : undefined;
  const param = (name: string, maxLength: number) =>
    singleParam(query, name, maxLength) ?? (form ? singleParam(form, name, maxLength) : undefined);
  const requested = param("post_logout_redirect_uri", 2048);
  const target =
    requested === undefined
      ? undefined
      : checkPostLogoutRedirectUri(ctx.config, requested, request);
  const callerState = param("state", 512);
  if (callerState !== undefined && !CALLER_STATE.test(callerState)) {
    throw badRequest("invalid_request", "state is malformed.");
  }
  if (form) await revokeSession(ctx, request, form);
  const status = request.method === "POST" ? 303 : 302;
  const endSession = await ctx.provider.endSessionEndpoint();
  let location: string | URL;
  if (!endSession) {
    location = target ?? (ctx.config.proxy ? `${ctx.config.proxy}/` : "/");
  } else {
    endSession.searchParams.set("client_id", ctx.config.clientId);
    if (target) endSession.searchParams.set("post_logout_redirect_uri", target);
    endSession.searchParams.set("state", callerState ?? generateRandomState());
    location = endSession;
  }
  const response = redirectResponse(location, {}, status);
  for (const cookie of ctx.sessions.responseCookies(request)) {
    response.headers.append("Set-Cookie", cookie);
  }
  return response;
}
