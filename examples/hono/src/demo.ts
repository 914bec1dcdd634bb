import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { startServer } from "./server.js";

/** Reads the demo's secret, creating it (owner-only) on the first run. */
async function demoSecret(file: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const secret = crypto.randomUUID() + crypto.randomUUID();
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, secret, { mode: 0o600 });
    return secret;
  }
}

/**
 * `pnpm demo`: with no OIDC_* configuration, starts the dev IdP and the example wired to it;
 * with OIDC_DISCOVERY_URL set, serves the example against that IdP instead.
 */
const env: Record<string, string | undefined> = { ...process.env };
const usesRealIdp = Boolean(env.OIDC_DISCOVERY_URL);
const idp = usesRealIdp ? undefined : await startDevIdp({ port: Number(env.DEV_IDP_PORT ?? 9400) });

if (idp) {
  const client = idp.clients.find((c) => c.clientSecret) ?? idp.clients[0];
  env.OIDC_DISCOVERY_URL = idp.discoveryUrl;
  env.OIDC_CLIENT_ID = client?.clientId;
  env.OIDC_CLIENT_SECRET = client?.clientSecret;
  env.OIDC_AUDIENCE = idp.audience;
  env.OIDC_SCOPES ??= "profile email";
  // Native clients (py-oidc-auth-client, CLIs) log in through a loopback redirect.
  env.OIDC_ALLOW_LOOPBACK_REDIRECTS ??= "true";
  // The demo's sealing secret lives beside its embedded store, so a second run can still
  // open the keys and sessions of the first (a real deployment sets OIDC_SECRET).
  env.OIDC_SECRET ??= await demoSecret(".data/demo-secret");
}

// The demo runs the token broker on the embedded store (PGlite under .data/) unless told otherwise.
env.OIDC_BROKER_MODE ??= "true";

const app = await startServer(env, (url) => ({
  OIDC_PROXY: env.OIDC_PROXY ?? url,
  OIDC_REDIRECT_URIS: env.OIDC_REDIRECT_URIS ?? `${url}/callback`,
}));

if (env.OIDC_BROKER_MODE === "true") await app.auth.brokerStore(); // open (and migrate) it now

const lines = [
  "",
  "oidc-auth demo",
  `  app:            ${app.url}/`,
  `  auth endpoints: ${app.url}/api/auth/v2/{login,callback,token,device,logout,userinfo}`,
  `  protected:      ${app.url}/api/me   ${app.url}/api/admin (role admin)`,
  `  mode:           ${env.OIDC_BROKER_MODE === "true" ? `broker (store: ${env.OIDC_BROKER_STORE_URL || "embedded PGlite"}; keys: ${app.url}/api/auth/v2/.well-known/jwks.json)` : "passthrough"}`,
];
if (idp) {
  lines.push(`  identity provider: ${idp.issuer} (discovery: ${idp.discoveryUrl})`);
  lines.push("  demo users:");
  for (const user of idp.users) {
    lines.push(`    ${user.username} / ${user.password}`);
  }
} else {
  lines.push(`  identity provider: ${env.OIDC_DISCOVERY_URL}`);
}
lines.push("", "Open the app URL in a browser and log in. Ctrl-C stops everything.", "");
console.log(lines.join("\n"));

const stop = async () => {
  await app.close();
  await idp?.stop();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
