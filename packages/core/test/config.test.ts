import { describe, expect, it } from "vitest";
import { ConfigError, envName, OIDCAuth, optionsFromEnv, silentLogger } from "../src/index.js";

describe("options from the environment", () => {
  it("names every option OIDC_ plus upper snake case", () => {
    expect(envName("clientId")).toBe("OIDC_CLIENT_ID");
    expect(envName("pyClientCompat")).toBe("OIDC_PY_CLIENT_COMPAT");
    expect(envName("brokerStoreUrl")).toBe("OIDC_BROKER_STORE_URL");
  });

  it("reads strings, booleans, numbers, lists and JSON", () => {
    const options = optionsFromEnv({
      OIDC_CLIENT_ID: "app",
      OIDC_CLIENT_SECRET: "s3cret",
      OIDC_DISCOVERY_URL: "https://idp.example.org/.well-known/openid-configuration",
      OIDC_SCOPES: "profile email api",
      OIDC_OFFLINE_ACCESS: "false",
      OIDC_TIMEOUT_SEC: "3",
      OIDC_TRUSTED_ISSUERS: "https://a.example.org, https://b.example.org",
      OIDC_CLAIMS: '{"roles":["admin"]}',
      OIDC_PY_CLIENT_COMPAT: "true",
      UNRELATED: "x",
    });
    expect(options).toEqual({
      clientId: "app",
      clientSecret: "s3cret",
      discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
      scopes: "profile email api",
      offlineAccess: false,
      timeoutSec: 3,
      trustedIssuers: ["https://a.example.org", "https://b.example.org"],
      claims: { roles: ["admin"] },
      pyClientCompat: true,
    });
  });

  it("reads the trust options of issue 11", () => {
    expect(
      optionsFromEnv({
        OIDC_ACCEPT_ANY_AUDIENCE: "true",
        OIDC_AUTHORIZED_PARTIES: "web, cli",
        OIDC_TRUSTED_JWKS_ORIGINS: "https://www.googleapis.com",
      }),
    ).toEqual({
      acceptAnyAudience: true,
      authorizedParties: ["web", "cli"],
      trustedJwksOrigins: ["https://www.googleapis.com"],
    });
    expect(
      () =>
        new OIDCAuth({
          authorizedParties: [],
          discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
          audience: "api",
          logger: silentLogger,
        }),
    ).toThrow(/authorizedParties/);
  });

  it("lets explicit options win over the environment", () => {
    const options = optionsFromEnv(
      { OIDC_CLIENT_ID: "from-env", OIDC_AUDIENCE: "aud-env" },
      { clientId: "explicit", audience: undefined },
    );
    expect(options.clientId).toBe("explicit");
    expect(options.audience).toBe("aud-env");
  });

  it("refuses unreadable values with the variable's name", () => {
    expect(() => optionsFromEnv({ OIDC_OFFLINE_ACCESS: "maybe" })).toThrow(/OIDC_OFFLINE_ACCESS/);
    expect(() => optionsFromEnv({ OIDC_TIMEOUT_SEC: "soon" })).toThrow(/OIDC_TIMEOUT_SEC/);
    expect(() => optionsFromEnv({ OIDC_CLAIMS: "{roles" })).toThrow(/OIDC_CLAIMS/);
  });
});

describe("configuration", () => {
  const base = {
    logger: silentLogger,
    discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
    audience: "api",
  };

  it("applies py-oidc-auth's defaults", () => {
    const { config } = new OIDCAuth(base);
    expect(config.scopes).toEqual(["openid", "profile", "email"]);
    expect(config.offlineAccess).toBe(true);
    expect(config.timeoutMs).toBe(10_000);
    expect(config.appName).toBe("oidc-auth");
    expect(config.routes.login).toBe("/auth/v2/login");
    expect(config.pyClientCompat).toBe(false);
    expect(config.allowLoopbackRedirects).toBe(false);
  });

  it("refuses symmetric and 'none' algorithms", () => {
    expect(() => new OIDCAuth({ ...base, algorithms: ["HS256"] })).toThrow(ConfigError);
    expect(() => new OIDCAuth({ ...base, algorithms: ["none"] })).toThrow(ConfigError);
  });

  it("bounds the clock tolerance and the transaction lifetime", () => {
    expect(() => new OIDCAuth({ ...base, clockToleranceSec: 3600 })).toThrow(/clockToleranceSec/);
    expect(() => new OIDCAuth({ ...base, transactionTtlSec: 3600 })).toThrow(/transactionTtlSec/);
  });

  it("refuses short secrets", () => {
    expect(() => new OIDCAuth({ ...base, secret: "short" })).toThrow(/32 characters/);
  });

  it("refuses to start without discoveryUrl; issuer and jwksUri alone serve the guard only", () => {
    const { discoveryUrl: _none, ...withoutDiscovery } = base;
    expect(() => new OIDCAuth(withoutDiscovery)).toThrow(/discoveryUrl is required/);
    expect(() => new OIDCAuth({ ...withoutDiscovery, issuer: "https://idp.example.org" })).toThrow(
      /discoveryUrl is required/,
    );
    const guardOnly = new OIDCAuth({
      ...withoutDiscovery,
      issuer: "https://idp.example.org",
      jwksUri: "https://idp.example.org/jwks",
    });
    expect(guardOnly.endpoints).toEqual([]);
    expect(
      () =>
        new OIDCAuth({
          ...withoutDiscovery,
          issuer: "https://idp.example.org",
          jwksUri: "https://idp.example.org/jwks",
          routes: { login: "/signin" },
        }),
    ).toThrow(/needs discoveryUrl/);
  });

  it("refuses a discovery URL that is not a well-known URL", () => {
    expect(
      () => new OIDCAuth({ ...base, audience: "api", discoveryUrl: "https://idp.example.org/" }),
    ).toThrow(/openid-configuration/);
  });

  it("serves only the enabled routes, at their configured paths", () => {
    const auth = new OIDCAuth({ ...base, routes: { device: null, login: "/signin" } });
    const names = auth.endpoints.map((e) => `${e.methods.join(",")} ${e.path}`);
    expect(names).toContain("GET /signin");
    expect(names.some((n) => n.includes("device"))).toBe(false);
  });

  it("answers unknown paths 404 and wrong methods 405, as JSON", async () => {
    const auth = new OIDCAuth(base);
    const missing = await auth.handleRequest(new Request("http://app.test/api/nope"), {
      prefix: "/api",
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found" });
    const wrong = await auth.handleRequest(
      new Request("http://app.test/api/auth/v2/token", { method: "GET" }),
      { prefix: "/api" },
    );
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });
});

describe("unsafe configuration refuses to start", () => {
  const base = {
    logger: silentLogger,
    discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
    audience: "api",
  };
  const broker = {
    ...base,
    brokerMode: true,
    brokerStoreUrl: "memory://",
    proxy: "https://app.example.org",
    brokerAudience: "app-api",
    secret: "s".repeat(32),
  };

  it("in production, broker mode needs a stable issuer, an explicit audience and a secret", () => {
    expect(() => new OIDCAuth({ ...broker, production: true })).not.toThrow();
    expect(() => new OIDCAuth({ ...broker, production: true, proxy: undefined })).toThrow(/proxy/);
    expect(() => new OIDCAuth({ ...broker, production: true, brokerAudience: undefined })).toThrow(
      /brokerAudience/,
    );
    expect(() => new OIDCAuth({ ...broker, production: true, secret: undefined })).toThrow(
      /secret/,
    );
  });

  it("outside production the same configuration only warns", () => {
    expect(
      () => new OIDCAuth({ ...broker, production: false, proxy: undefined, secret: undefined }),
    ).not.toThrow();
  });

  it("takes production from NODE_ENV by default", () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      expect(() => new OIDCAuth({ ...broker, secret: undefined })).toThrow(ConfigError);
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it("refuses a clock tolerance above five minutes and algorithms beside asymmetric keys", () => {
    expect(() => new OIDCAuth({ ...base, clockToleranceSec: 301 })).toThrow(ConfigError);
    expect(() => new OIDCAuth({ ...base, algorithms: ["RS256", "HS256"] })).toThrow(ConfigError);
    expect(() => new OIDCAuth({ ...base, algorithms: ["RS256", "none"] })).toThrow(ConfigError);
  });

  it("keeps token exchange off by default and refuses it outside broker mode", () => {
    expect(new OIDCAuth(base).config.tokenExchange).toBe(false);
    expect(new OIDCAuth({ ...broker, tokenExchange: true }).config.tokenExchange).toBe(true);
    expect(() => new OIDCAuth({ ...base, tokenExchange: true })).toThrow(/tokenExchange/);
    expect(optionsFromEnv({ OIDC_TOKEN_EXCHANGE: "true" }).tokenExchange).toBe(true);
  });

  it("refuses its own issuer among the trusted peers", () => {
    expect(() => new OIDCAuth({ ...broker, trustedIssuers: ["https://app.example.org/"] })).toThrow(
      /own issuer/,
    );
  });
});

describe("broker at scale: options", () => {
  const base = {
    clientId: "app",
    discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
    brokerMode: true,
    brokerStoreUrl: "memory://",
    logger: silentLogger,
  };

  it("reads trustedIssuers as a list or as JSON entries with a policy", () => {
    expect(
      optionsFromEnv({ OIDC_TRUSTED_ISSUERS: "https://a.example.org" }).trustedIssuers,
    ).toEqual(["https://a.example.org"]);
    const json =
      '[{"issuer":"https://py.example.org/api","tokenTypes":["JWT"],"mayAssert":["roles"]}]';
    const auth = new OIDCAuth({ ...base, ...optionsFromEnv({ OIDC_TRUSTED_ISSUERS: json }) });
    expect(auth.config.trustedIssuers).toEqual(["https://py.example.org/api"]);
    expect(auth.config.peerPolicies.get("https://py.example.org/api")).toMatchObject({
      roles: true,
      scope: false,
    });
  });

  it("gives a peer named by URL the safe default: at+jwt, identity only", () => {
    const auth = new OIDCAuth({ ...base, trustedIssuers: ["https://b.example.org/"] });
    const policy = auth.config.peerPolicies.get("https://b.example.org");
    expect([...(policy?.tokenTypes ?? [])]).toEqual(["at+jwt"]);
    expect(policy).toMatchObject({ roles: false, scope: false });
  });

  it("refuses malformed peer policies", () => {
    for (const trustedIssuers of [
      [{ issuer: "" }],
      [{ issuer: "https://p.example.org", mayAssert: ["everything"] }],
      [{ issuer: "https://p.example.org", tokenTypes: [] }],
      ["https://p.example.org", { issuer: "https://p.example.org/" }],
    ]) {
      expect(() => new OIDCAuth({ ...base, trustedIssuers } as never)).toThrow(ConfigError);
    }
  });

  it("reads the session, key and native-login bounds, with safe defaults", () => {
    const auth = new OIDCAuth(base);
    expect(auth.config).toMatchObject({
      sessionMaxAgeSec: 30 * 86400,
      sessionIdleSec: 7 * 86400,
      keyReloadSec: 10,
      nativeLoginsPerClient: 20,
    });
    const env = optionsFromEnv({
      OIDC_SESSION_MAX_AGE_SEC: "3600",
      OIDC_SESSION_IDLE_SEC: "600",
      OIDC_KEY_RELOAD_SEC: "5",
      OIDC_NATIVE_LOGINS_PER_CLIENT: "3",
    });
    expect(new OIDCAuth({ ...base, ...env }).config).toMatchObject({
      sessionMaxAgeSec: 3600,
      sessionIdleSec: 600,
      keyReloadSec: 5,
      nativeLoginsPerClient: 3,
    });
    // the former name still sets the absolute lifetime
    expect(new OIDCAuth({ ...base, brokerSessionTtlSec: 7200 }).config.sessionMaxAgeSec).toBe(7200);
  });
});
