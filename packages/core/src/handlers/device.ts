import type { AuthContext } from "../context.js";
import { readForm, singleParam } from "../request-body.js";
import { jsonResponse } from "../responses.js";
import { loginScopes } from "./login.js";

/** `POST device`: starts a device authorization at the IdP (RFC 8628). */
export async function device(ctx: AuthContext, request: Request): Promise<Response> {
  const form = await readForm(request);
  const offline = singleParam(form, "offline_access", 8);
  const scope = loginScopes(
    ctx,
    singleParam(form, "scope", 1024),
    offline === undefined ? ctx.config.offlineAccess : offline === "true",
  );
  const authorization = await ctx.provider.startDeviceAuthorization(scope);
  ctx.devicePolls.granted(
    authorization.device_code,
    authorization.interval,
    authorization.expires_in,
  );
  return jsonResponse(authorization);
}
