import type { AuthContext } from "../context.js";
import { OIDCAuthError } from "../errors.js";
import { checkPostLogoutRedirectUri } from "../redirect-uris.js";
import { readForm, singleParam } from "../request-body.js";
import { redirectResponse } from "../responses.js";

/**
 * In broker mode, logout with a credential revokes the broker session (and the IdP refresh
 * token where the IdP offers revocation): a bearer broker token in Authorization, or the
 * refresh credential posted as `refresh-token`/`refresh_token`.
 */
async function revokeSession(
  ctx: AuthContext,
  request: Request,
  form: URLSearchParams | undefined,
) {
  const broker = ctx.broker;
  if (!broker) return;
  const credential = form
    ? (singleParam(form, "refresh-token") ?? singleParam(form, "refresh_token"))
    : undefined;
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
 * with `client_id` and the (allow-listed) `post_logout_redirect_uri`; without such an
 * endpoint, straight to that URI, or to `/`.
 */
export async function logout(ctx: AuthContext, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const form = request.method === "POST" ? await readForm(request) : undefined;
  const requested =
    singleParam(query, "post_logout_redirect_uri", 2048) ??
    (form ? singleParam(form, "post_logout_redirect_uri", 2048) : undefined);
  const target =
    requested === undefined ? undefined : checkPostLogoutRedirectUri(ctx.config, requested);
  if (request.method === "POST" && !ctx.broker) {
    throw new OIDCAuthError(405, "invalid_request", "Method not allowed.", { Allow: "GET" });
  }
  await revokeSession(ctx, request, form);
  const endSession = await ctx.provider.endSessionEndpoint();
  if (!endSession)
    return redirectResponse(target ?? (ctx.config.proxy ? `${ctx.config.proxy}/` : "/"));
  const url = new URL(endSession);
  url.searchParams.set("client_id", ctx.config.clientId);
  if (target) url.searchParams.set("post_logout_redirect_uri", target);
  return redirectResponse(url);
}
