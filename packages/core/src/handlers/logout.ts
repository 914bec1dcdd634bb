import type { AuthContext } from "../context.js";
import { checkPostLogoutRedirectUri } from "../redirect-uris.js";
import { singleParam } from "../request-body.js";
import { redirectResponse } from "../responses.js";

/**
 * `GET logout`: RP-initiated logout. Redirects to the IdP's `end_session_endpoint` with
 * `client_id` and the (allow-listed) `post_logout_redirect_uri`; without such an endpoint,
 * straight to that URI, or to `/`.
 */
export async function logout(ctx: AuthContext, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const requested = singleParam(query, "post_logout_redirect_uri", 2048);
  const target =
    requested === undefined ? undefined : checkPostLogoutRedirectUri(ctx.config, requested);
  const endSession = await ctx.provider.endSessionEndpoint();
  if (!endSession)
    return redirectResponse(target ?? (ctx.config.proxy ? `${ctx.config.proxy}/` : "/"));
  const url = new URL(endSession);
  url.searchParams.set("client_id", ctx.config.clientId);
  if (target) url.searchParams.set("post_logout_redirect_uri", target);
  return redirectResponse(url);
}
