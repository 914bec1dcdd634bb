import type { OIDCAuthOptions } from "@oidc-auth/next";
import { NextOIDCAuth, optionsFromEnv, silentLogger } from "@oidc-auth/next";

/** Where the catch-all route publishes the broker's keys (app/api/auth/v2/[...oidc]). */
const JWKS_PATH = "/api/auth/v2/.well-known/jwks.json";

/**
 * What `next build` constructs: a guard-only instance (no discoveryUrl, so no endpoint) that
 * never serves a request; the real configuration is read at run time.
 */
const BUILD_PLACEHOLDER: OIDCAuthOptions = {
  issuer: "https://build.invalid",
  jwksUri: "https://build.invalid/jwks",
  logger: silentLogger,
};

/**
 * The app's auth object, configured from the `OIDC_*` variables of the running server (read
 * when the first route loads, never at build time).
 */
function createAuth(): NextOIDCAuth {
  // `next build` loads every route once: nothing of the build's environment is kept.
  if (process.env.NEXT_PHASE === "phase-production-build") {
    return new NextOIDCAuth(BUILD_PLACEHOLDER);
  }
  const options: OIDCAuthOptions = { brokerJwksPath: JWKS_PATH, ...optionsFromEnv(process.env) };
  if (options.brokerMode && process.env.NEXT_RUNTIME === "edge" && options.proxy) {
    return new NextOIDCAuth(brokerTokenVerification(options, options.proxy));
  }
  if (options.brokerMode && !options.brokerStore && options.brokerStoreUrl !== "memory://") {
    // The core loads @oidc-auth/drizzle by a computed name, which Next's bundler cannot
    // follow: hand it a factory with a literal import instead (Node.js runtime only, so
    // edge bundles never contain a database driver). The core opens it on first use.
    const url = options.brokerStoreUrl;
    const appName = options.appName ?? "oidc-auth";
    options.brokerStore = async () => {
      if (process.env.NEXT_RUNTIME === "nodejs") {
        const { createBrokerStore } = await import("@oidc-auth/drizzle");
        return createBrokerStore(url, { appName });
      }
      throw new Error("the Drizzle broker store needs the Node.js runtime: use memory://");
    };
  }
  return new NextOIDCAuth(options);
}

/**
 * Broker mode on the edge runtime. Edge routes run in an isolate of their own (on most hosts
 * another machine), which shares neither the broker store nor the signing keys of the
 * Node.js routes that mint the tokens. So they verify broker tokens the way any resource
 * server does: signature from the JWKS the catch-all route publishes, `iss` = the broker's
 * issuer (`OIDC_PROXY`), `aud` = `OIDC_BROKER_AUDIENCE`, `typ` = at+jwt.
 */
function brokerTokenVerification(options: OIDCAuthOptions, proxy: string): OIDCAuthOptions {
  const issuer = proxy.replace(/\/+$/, "");
  return {
    ...options,
    brokerMode: false,
    issuer,
    jwksUri: `${issuer}${options.brokerJwksPath ?? JWKS_PATH}`,
    audience: options.brokerAudience ?? "oidc-auth",
    accessTokenTypes: ["at+jwt"],
  };
}

// One instance per runtime, shared by every route (one broker store, one set of keys).
const key = Symbol.for("oidc-auth.example-next");
const shared = globalThis as typeof globalThis & { [key]?: NextOIDCAuth };

shared[key] ??= createAuth();
export const auth: NextOIDCAuth = shared[key];
