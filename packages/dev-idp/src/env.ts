import { checkBackchannelLogoutUri, DEMO_CLIENTS } from "./clients.js";
import type { DevIdpOptions } from "./provider.js";

/** Environment variables that devIdpOptionsFromEnv reads. */
export const DEV_IDP_ENV = {
  /** Back-Channel Logout URI registered for every demo client. */
  backchannelLogoutUri: "DEV_IDP_BACKCHANNEL_LOGOUT_URI",
  /** "1" or "true": DevIdpOptions.onlineRefreshTokens ("0", "false" or empty: off). */
  onlineRefreshTokens: "DEV_IDP_ONLINE_REFRESH_TOKENS",
} as const;

/**
 * The DevIdpOptions that the environment asks for, for the `oidc-auth-dev-idp` command and for
 * demos that start the dev IdP in their own process. Unset variables add nothing. Throws a
 * TypeError naming the variable when a value cannot be used.
 *
 * @example
 * const idp = await startDevIdp({ port: 9400, ...devIdpOptionsFromEnv(process.env) });
 */
export function devIdpOptionsFromEnv(
  env: Record<string, string | undefined>,
): Pick<DevIdpOptions, "clients" | "onlineRefreshTokens"> {
  const options: Pick<DevIdpOptions, "clients" | "onlineRefreshTokens"> = {};
  const uri = env[DEV_IDP_ENV.backchannelLogoutUri];
  if (uri) {
    options.clients = DEMO_CLIENTS.map((client) => {
      try {
        return { ...client, backchannelLogoutUri: checkBackchannelLogoutUri(client.clientId, uri) };
      } catch (error) {
        throw new TypeError(`${DEV_IDP_ENV.backchannelLogoutUri}: ${(error as Error).message}`);
      }
    });
  }
  const online = env[DEV_IDP_ENV.onlineRefreshTokens];
  if (online) {
    const value = online.trim().toLowerCase();
    if (value === "1" || value === "true") options.onlineRefreshTokens = true;
    else if (value === "0" || value === "false") options.onlineRefreshTokens = false;
    else {
      throw new TypeError(
        `${DEV_IDP_ENV.onlineRefreshTokens} must be 1, true, 0 or false, not ${JSON.stringify(online)}`,
      );
    }
  }
  return options;
}
