import type { AuthContext } from "../context.js";
import { OIDCAuthError } from "../errors.js";

/** `POST backchannel-logout` (OpenID Connect Back-Channel Logout 1.0). */
export async function backchannelLogout(_ctx: AuthContext, _request: Request): Promise<Response> {
  throw new OIDCAuthError(501, "not_implemented", "Back-channel logout is not implemented yet.");
}
