#!/usr/bin/env node
// Starts the dev IdP: HOST (default 127.0.0.1) and PORT (default 9400) from the environment, and
// DEV_IDP_BACKCHANNEL_LOGOUT_URI / DEV_IDP_ONLINE_REFRESH_TOKENS (see devIdpOptionsFromEnv).
import { devIdpOptionsFromEnv } from "./env.js";
import { type DevIdpOptions, startDevIdp } from "./provider.js";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 9400);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`dev-idp: invalid PORT ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}

let fromEnv: DevIdpOptions;
try {
  fromEnv = devIdpOptionsFromEnv(process.env);
} catch (error) {
  console.error(`dev-idp: ${(error as Error).message}`);
  process.exit(1);
}

const idp = await startDevIdp({
  ...fromEnv,
  host,
  port,
  onError: (error) => console.error("[dev-idp] server error:", error),
});

const lines = [
  "oidc-auth dev IdP (development and tests only, never production)",
  "",
  `  issuer:     ${idp.issuer}`,
  `  discovery:  ${idp.discoveryUrl}`,
  `  audience:   ${idp.audience} (resource ${idp.resource})`,
  "",
  "  clients:",
  ...idp.clients.map(
    (c) =>
      `    ${c.clientId}  ${c.clientSecret ? `secret: ${c.clientSecret}` : "public (PKCE S256)"}${
        (c.allowAnyLoopbackRedirect ?? true)
          ? "  redirect: any http://127.0.0.1:*/* or http://localhost:*/*"
          : ""
      }${c.backchannelLogoutUri ? `  back-channel logout: ${c.backchannelLogoutUri}` : ""}`,
  ),
  `  refresh tokens: with offline_access${
    fromEnv.onlineRefreshTokens
      ? "; for the confidential client also without (online: they end with the IdP session)"
      : ""
  }`,
  "",
  "  users:",
  ...idp.users.map(
    (u) =>
      `    ${u.username} / ${u.password}  (${u.givenName} ${u.familyName}, ${u.email}, roles: ${u.realmRoles.join(",")})`,
  ),
  "",
  "Press Ctrl+C to stop.",
];
console.log(lines.join("\n"));

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`\n${signal} received, stopping dev IdP…`);
  idp.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
