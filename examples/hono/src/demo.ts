import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { devIdpOptionsFromEnv, startDevIdp } from "@oidc-auth/dev-idp";
import { NotReadyError } from "@oidc-auth/hono";
import type { RunningServer } from "./server.js";
import { startServer } from "./server.js";

/**
 * `pnpm demo`: with no OIDC_DISCOVERY_URL, starts the dev IdP and the example wired to it;
 * with OIDC_DISCOVERY_URL (and the other variables the README lists), serves the example
 * against that IdP instead. Checks the IdP (and the broker store) before it says it is
 * ready, and says what is wrong when it is not. Ctrl-C stops it cleanly (exit 0).
 */

const env: Record<string, string | undefined> = { ...process.env };
let idp: DevIdp | undefined;
let app: RunningServer | undefined;

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await app?.close().catch(() => {});
    await idp?.stop().catch(() => {});
  }
  process.exit(code);
}
// From the first line on: Ctrl-C while starting stops cleanly too. The terminal signals
// every process of the group (pnpm forwards it again): the first one stops, the rest wait.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (!stopping) console.log("\nStopping the demo…");
    void stop(0);
  });
}

/** Says why the demo cannot start, with what to do, and exits 1. */
async function cannotStart(lines: string[]): Promise<never> {
  console.error(["", "The demo cannot start.", ...lines, ""].join("\n"));
  return stop(1);
}

/** Reads the demo's secret, creating it (owner-only) on the first run. */
async function demoSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const secret = crypto.randomUUID() + crypto.randomUUID();
    await writeFile(file, secret, { mode: 0o600 });
    return secret;
  }
}

/** A folder name for an IdP: its host and path, e.g. `kc.example.org_realms_demo`. */
function folderFor(discoveryUrl: string): string {
  let name = discoveryUrl;
  try {
    const url = new URL(discoveryUrl);
    name = `${url.host}${url.pathname.replace(/\/\.well-known\/openid-configuration$/, "")}`;
  } catch {
    // the core refuses it with a clear message at startup
  }
  return name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "_")
    .replace(/^[._]+|_+$/g, "")
    .slice(0, 80);
}

const isAddressInUse = (err: unknown) => (err as { code?: unknown })?.code === "EADDRINUSE";

if (!env.OIDC_DISCOVERY_URL) {
  const port = Number(env.DEV_IDP_PORT || 9400);
  try {
    // Keycloak-like refresh tokens (DEV_IDP_ONLINE_REFRESH_TOKENS=0 turns them off), so the
    // browser session of /profile renews itself and ends with the IdP's login session.
    idp = await startDevIdp({
      port,
      onlineRefreshTokens: true,
      ...devIdpOptionsFromEnv(env),
    });
  } catch (err) {
    if (!isAddressInUse(err)) throw err;
    await cannotStart([
      `  Port ${port} of the bundled identity provider is in use (another demo still running?).`,
      "  DEV_IDP_PORT=9401 pnpm demo moves it (0: any free port).",
    ]);
  }
  const client = idp?.clients.find((c) => c.clientSecret) ?? idp?.clients[0];
  env.OIDC_DISCOVERY_URL = idp?.discoveryUrl;
  env.OIDC_CLIENT_ID = client?.clientId;
  env.OIDC_CLIENT_SECRET = client?.clientSecret;
  env.OIDC_AUDIENCE = idp?.audience;
  // Native clients (py-oidc-auth-client, CLIs) log in through a loopback redirect.
  env.OIDC_ALLOW_LOOPBACK_REDIRECTS ??= "true";
}

// The demo runs the token broker unless told otherwise, on an embedded store of its own per
// identity provider (so a run against another IdP never meets the keys and sessions of this
// one), sealed with a secret kept beside it unless OIDC_SECRET is set.
env.OIDC_BROKER_MODE ??= "true";
const dataFolder = resolve(
  env.OIDC_DATA_DIR || ".data",
  "demo",
  idp ? "dev-idp" : folderFor(env.OIDC_DISCOVERY_URL ?? ""),
);
if (env.OIDC_BROKER_MODE === "true") {
  await mkdir(dataFolder, { recursive: true });
  env.OIDC_BROKER_STORE_URL ||= `pglite://${join(dataFolder, "broker")}`;
  env.OIDC_SECRET ||= await demoSecret(join(dataFolder, "secret"));
}

try {
  app = await startServer(env, (url) => ({
    OIDC_PROXY: env.OIDC_PROXY || url,
    OIDC_REDIRECT_URIS: env.OIDC_REDIRECT_URIS || `${env.OIDC_PROXY || url}/callback`,
  }));
} catch (err) {
  if (isAddressInUse(err)) {
    await cannotStart([
      `  Port ${env.PORT || 3000} of the app is in use.`,
      "  PORT=3001 pnpm demo moves it (0: any free port); HOST changes the address.",
    ]);
  }
  // a configuration error (ConfigError): its message says which option is wrong
  await cannotStart([`  ${err instanceof Error ? err.message : String(err)}`]);
}
if (!app) throw new Error("unreachable");
// Logging out at the bundled IdP ends the app's sessions (Back-Channel Logout).
if (idp && !env.DEV_IDP_BACKCHANNEL_LOGOUT_URI) {
  for (const client of idp.clients) {
    await idp.setBackchannelLogoutUri(client.clientId, `${app.url}/api/auth/v2/backchannel-logout`);
  }
}

// Is the identity provider there, are its keys reachable, does the store open and unseal?
try {
  await app.auth.ready();
} catch (err) {
  if (!(err instanceof NotReadyError)) throw err;
  const failed = err.report.checks.filter((c) => !c.ok);
  await cannotStart([
    ...failed.map((c) => `  - ${c.message}`),
    "",
    idp
      ? "  (The bundled identity provider should always answer: please report this.)"
      : "  Check OIDC_DISCOVERY_URL and the other OIDC_* variables (README: Run the demo against your IdP).",
  ]);
}

const publicUrl = env.OIDC_PROXY || app.url;
const lines = [
  "",
  "oidc-auth demo",
  `  app:            ${app.url}/`,
  `  auth endpoints: ${app.url}/api/auth/v2/{login,callback,token,device,logout,userinfo,backchannel-logout}`,
  `  protected:      ${app.url}/api/me   ${app.url}/api/admin (role admin)`,
  `  session page:   ${app.url}/profile (server-rendered, cookie session, works without JavaScript)`,
  `  health:         ${app.url}/api/health`,
  `  mode:           ${env.OIDC_BROKER_MODE === "true" ? `broker (store: ${env.OIDC_BROKER_STORE_URL?.startsWith(`pglite://${dataFolder}`) ? `embedded PGlite in ${join(dataFolder, "broker")}` : env.OIDC_BROKER_STORE_URL}; keys: ${app.url}/api/auth/v2/.well-known/jwks.json)` : "passthrough"}`,
];
if (idp) {
  lines.push(`  identity provider: ${idp.issuer} (discovery: ${idp.discoveryUrl})`);
  lines.push("  demo users:");
  for (const user of idp.users) lines.push(`    ${user.username} / ${user.password}`);
} else {
  lines.push(`  identity provider: ${env.OIDC_DISCOVERY_URL} (client ${env.OIDC_CLIENT_ID})`);
  lines.push(`  registered at the IdP, exactly: redirect URI ${publicUrl}/callback`);
  lines.push(
    `                                  redirect URI ${publicUrl}/api/auth/v2/callback (/profile)`,
  );
  lines.push(`                                  post-logout redirect URI ${publicUrl}/`);
  lines.push(
    `                                  back-channel logout URI ${publicUrl}/api/auth/v2/backchannel-logout`,
  );
}
lines.push("", "Open the app URL in a browser and log in. Ctrl-C stops everything.", "");
console.log(lines.join("\n"));
