import { SigningKeySealedError } from "./broker/keys.js";
import type { BrokerStore } from "./broker/store.js";
import type { AuthContext } from "./context.js";
import { diagnoseKeySetFailure, redactUrl } from "./diagnostics.js";
import { NO_STORE_HEADERS, OIDCAuthError } from "./errors.js";

/** One check of {@link HealthReport}. */
export interface HealthCheck {
  /** What was checked. */
  name: "discovery" | "keys" | "store" | "signing-key";
  ok: boolean;
  /** Class of the failure (`dns`, `refused`, `tls`, `timeout`, `http-status`, `sealed`…). */
  cause?: string;
  /** For operators (logs, startup): what failed, where, and what to do. Never a secret. */
  message: string;
}

/**
 * What `auth.health()` answers: whether the IdP's metadata and keys are reachable and, in
 * broker mode, the store opens and its signing key unseals. Checks that depend on a failed
 * one are left out.
 */
export interface HealthReport {
  ok: boolean;
  checks: HealthCheck[];
}

/** `auth.ready()` rejects with this: its message lists every failed check, one per line. */
export class NotReadyError extends Error {
  override readonly name = "NotReadyError";

  constructor(readonly report: HealthReport) {
    const failed = report.checks.filter((c) => !c.ok).map((c) => `  - ${c.message}`);
    super(`oidc-auth is not ready:\n${failed.join("\n")}`);
  }
}

function failed(name: HealthCheck["name"], d: { cause: string; message: string }) {
  return { name, ok: false, cause: d.cause, message: d.message } satisfies HealthCheck;
}

/** The name and code of an error, never its message (which may quote upstream input). */
function errorLabel(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? `${err.name} ${code}` : err.name;
}

/** The store as configured, for messages when it could not even be opened. */
function configuredStore(ctx: AuthContext): string {
  const { brokerStore, brokerStoreUrl, appName } = ctx.config;
  if (brokerStore) return "the configured brokerStore";
  if (brokerStoreUrl) return redactUrl(brokerStoreUrl);
  return `the embedded store (.data/${appName}/broker under the working directory, or under OIDC_DATA_DIR)`;
}

async function checkDiscovery(ctx: AuthContext): Promise<HealthCheck> {
  if (!ctx.config.discoveryUrl) {
    return failed("discovery", {
      cause: "not-configured",
      message: "no discovery URL is configured (discoveryUrl / OIDC_DISCOVERY_URL).",
    });
  }
  try {
    const metadata = await ctx.provider.metadata();
    return {
      name: "discovery",
      ok: true,
      message: `identity provider ${metadata.issuer} (discovery: ${redactUrl(ctx.config.discoveryUrl)})`,
    };
  } catch (err) {
    const diagnosis = ctx.provider.discoveryFailure;
    if (diagnosis) return failed("discovery", diagnosis);
    return failed("discovery", {
      cause: "unknown",
      message: `identity provider discovery at ${redactUrl(ctx.config.discoveryUrl)} failed (${err instanceof OIDCAuthError ? err.error : errorLabel(err)}).`,
    });
  }
}

async function checkKeys(ctx: AuthContext): Promise<HealthCheck> {
  let uri: string | undefined;
  try {
    uri = await ctx.provider.jwksUri();
    const count = await (await ctx.verifier.keySet()).ensureLoaded();
    if (count === 0) {
      return failed("keys", {
        cause: "no-keys",
        message: `the identity provider's key set at ${redactUrl(uri)} has no keys.`,
      });
    }
    return { name: "keys", ok: true, message: `${count} key(s) at ${redactUrl(uri)}` };
  } catch (err) {
    if (uri === undefined) {
      return failed("keys", {
        cause: "invalid-document",
        message:
          "the identity provider's metadata names no usable jwks_uri: missing, not a URL, or on another origin than the issuer (set jwksUri, or trustedJwksOrigins if that origin is genuine).",
      });
    }
    const timeoutSec = ctx.config.timeoutMs / 1000;
    return failed("keys", diagnoseKeySetFailure(uri, err, { timeoutSec }));
  }
}

async function checkStore(ctx: AuthContext, store: () => Promise<BrokerStore>) {
  let opened: BrokerStore;
  try {
    opened = await store();
    await opened.listSigningKeys();
  } catch (err) {
    const ours = err instanceof Error && /@oidc-auth\/drizzle|broker store URL/.test(err.message);
    return {
      check: failed("store", {
        cause: "unavailable",
        message: `the broker store ${configuredStore(ctx)} cannot be used: ${ours ? (err as Error).message : errorLabel(err)}.`,
      }),
    };
  }
  const where = opened.location ?? configuredStore(ctx);
  return {
    check: { name: "store", ok: true, message: `broker store ${where}` } as HealthCheck,
    where,
  };
}

async function checkSigningKey(ctx: AuthContext, where: string): Promise<HealthCheck> {
  const broker = ctx.broker;
  if (!broker) throw new Error("checkSigningKey without a broker");
  try {
    const key = await broker.keys.active();
    return { name: "signing-key", ok: true, message: `broker signing key ${key.kid}` };
  } catch (err) {
    if (err instanceof SigningKeySealedError) {
      return failed("signing-key", {
        cause: "sealed",
        message: `the broker's signing key in ${where} was sealed with another secret than the configured one. Configure the secret that sealed it (a list "new,old" opens both and seals with the first), point the broker at another store (OIDC_BROKER_STORE_URL), or delete ${where} to start over (its sessions and keys are lost).`,
      });
    }
    return failed("signing-key", {
      cause: "unavailable",
      message: `the broker's signing key in ${where} cannot be loaded (${errorLabel(err)}).`,
    });
  }
}

/** Runs the readiness checks (see {@link HealthReport}). Never throws. */
export async function checkHealth(ctx: AuthContext): Promise<HealthReport> {
  const checks: HealthCheck[] = [];
  const discovery = await checkDiscovery(ctx);
  checks.push(discovery);
  if (discovery.ok || ctx.config.jwksUri) checks.push(await checkKeys(ctx));
  const broker = ctx.broker;
  if (broker) {
    const { check, where } = await checkStore(ctx, () => broker.store());
    checks.push(check);
    if (where !== undefined) checks.push(await checkSigningKey(ctx, where));
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * A readiness probe's answer: 200 `{"status":"ready"}` or 503 `{"status":"unavailable"}`,
 * each with `checks` naming every check and `"ok"` or its cause — no URLs, no messages
 * (those are for the logs: `auth.health()`).
 */
export function healthResponse(report: HealthReport): Response {
  const checks = Object.fromEntries(report.checks.map((c) => [c.name, c.ok ? "ok" : c.cause]));
  const body = { status: report.ok ? "ready" : "unavailable", checks };
  return new Response(JSON.stringify(body), {
    status: report.ok ? 200 : 503,
    headers: NO_STORE_HEADERS,
  });
}
