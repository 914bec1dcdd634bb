import type { ClaimConstraints, EndpointName, OIDCAuthOptions } from "./config.js";
import { ConfigError } from "./config.js";

type Kind = "string" | "boolean" | "number" | "list" | "json" | "list-or-json";

/** Every option that can come from the environment, and how its text is read. */
const ENV_OPTIONS: Record<string, Kind> = {
  clientId: "string",
  clientSecret: "string",
  discoveryUrl: "string",
  scopes: "string",
  audience: "string",
  acceptAnyAudience: "boolean",
  authorizedParties: "list",
  appName: "string",
  proxy: "string",
  claims: "json",
  offlineAccess: "boolean",
  timeoutSec: "number",
  jwksUri: "string",
  trustedJwksOrigins: "list",
  issuer: "string",
  brokerMode: "boolean",
  brokerStoreUrl: "string",
  brokerAudience: "string",
  trustedIssuers: "list-or-json",
  brokerJwksPath: "string",
  brokerTokenTtlSec: "number",
  brokerSessionTtlSec: "number",
  sessionMaxAgeSec: "number",
  sessionIdleSec: "number",
  keyReloadSec: "number",
  nativeLoginsPerClient: "number",
  brokerAlgorithm: "string",
  keyRotationIntervalSec: "number",
  refreshReuseGraceSec: "number",
  tokenExchange: "boolean",
  secret: "list",
  redirectUris: "list",
  allowLoopbackRedirects: "boolean",
  postLogoutRedirectUris: "list",
  pyClientCompat: "boolean",
  clockToleranceSec: "number",
  algorithms: "list",
  accessTokenTypes: "list",
  maxTokenBytes: "number",
  roleClaims: "list",
  routes: "json",
  clientAuthMethod: "string",
  production: "boolean",
  allowInsecureRequests: "boolean",
  transactionTtlSec: "number",
  jwksCooldownSec: "number",
  jwksMaxAgeSec: "number",
  tokenCacheSize: "number",
  rateLimits: "json",
  clientIpHeader: "string",
  browserSessions: "boolean",
  sessionCookieName: "string",
  loginPath: "string",
};

/** `clientId` → `OIDC_CLIENT_ID`. */
export function envName(option: string): string {
  return `OIDC_${option.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

function parse(name: string, kind: Kind, text: string): unknown {
  switch (kind) {
    case "string":
      return text;
    case "boolean": {
      const v = text.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off", ""].includes(v)) return false;
      throw new ConfigError(`${name} must be true or false.`);
    }
    case "number": {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n))
        throw new ConfigError(`${name} must be a number.`);
      return n;
    }
    case "list":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    case "list-or-json":
      // A JSON array for entries with options, else a comma-separated list.
      return text.trim().startsWith("[") ? parse(name, "json", text) : parse(name, "list", text);
    case "json":
      try {
        return JSON.parse(text);
      } catch {
        throw new ConfigError(`${name} must be JSON.`);
      }
  }
}

/**
 * Reads every `OIDC_*` variable of an environment record (`process.env`, a worker's
 * bindings) into options; `explicit` options win over the environment. Values that are not
 * strings are not read.
 *
 * @example
 * ```ts
 * const auth = new OIDCAuth(optionsFromEnv(process.env, { appName: "shop" }));
 * ```
 */
export function optionsFromEnv(
  env: Readonly<Record<string, unknown>>,
  explicit: OIDCAuthOptions = {},
): OIDCAuthOptions {
  const fromEnv: Record<string, unknown> = {};
  for (const [option, kind] of Object.entries(ENV_OPTIONS)) {
    const name = envName(option);
    const text = env[name];
    // Edge runtimes hand over bindings of every kind (KV, D1, secrets): only text is read.
    if (typeof text === "string") fromEnv[option] = parse(name, kind, text);
  }
  const options = { ...fromEnv } as OIDCAuthOptions & {
    claims?: ClaimConstraints;
    routes?: Partial<Record<EndpointName, string | null>>;
  };
  for (const [key, value] of Object.entries(explicit)) {
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  return options;
}
