import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, DeferredOIDCAuth, OIDCAuth, silentLogger } from "../src/index.js";

const ISSUER = "http://127.0.0.1:1";
const base = {
  clientId: "app",
  discoveryUrl: `${ISSUER}/.well-known/openid-configuration`,
  audience: "api",
  logger: silentLogger,
};

const made: DeferredOIDCAuth[] = [];
function deferred(env: Record<string, string | undefined>, explicit = {}, registry = "test") {
  const auth = new DeferredOIDCAuth(explicit, { registry, env: () => env });
  made.push(auth);
  return auth;
}

afterEach(async () => {
  for (const auth of made.splice(0)) await auth.close();
});

describe("DeferredOIDCAuth (the instance Next.js and SvelteKit apps make at module load)", () => {
  it("reads no environment and checks no configuration until the first use", () => {
    let reads = 0;
    const auth = new DeferredOIDCAuth(
      {},
      {
        registry: "test",
        env: () => {
          reads++;
          return { OIDC_TIMEOUT_SEC: "not a number" };
        },
      },
    );
    made.push(auth);
    const guard = auth.guard({ scopes: "api" });
    expect(reads).toBe(0);
    expect(auth.started).toBe(false);
    expect(() => guard.checkOptional(new Request("http://app.test/"))).toThrow(ConfigError);
    expect(reads).toBe(1);
  });

  it("takes OIDC_* variables, with explicit options winning", () => {
    const auth = deferred(
      {
        OIDC_CLIENT_ID: "from-env",
        OIDC_DISCOVERY_URL: base.discoveryUrl,
        OIDC_AUDIENCE: "env-aud",
      },
      { audience: "explicit-aud", logger: silentLogger },
    );
    expect(auth.core).toBeInstanceOf(OIDCAuth);
    expect(auth.core.config.clientId).toBe("from-env");
    expect(auth.core.config.audience).toBe("explicit-aud");
  });

  it("shares one core per runtime between instances of the same configuration", () => {
    const env = {
      OIDC_CLIENT_ID: "app",
      OIDC_DISCOVERY_URL: base.discoveryUrl,
      OIDC_AUDIENCE: "api",
    };
    const first = deferred(env, { logger: silentLogger });
    const again = deferred(env, { logger: silentLogger });
    const other = deferred({ ...env, OIDC_AUDIENCE: "other" }, { logger: silentLogger });
    const elsewhere = deferred(env, { logger: silentLogger }, "another-adapter");
    expect(again.core).toBe(first.core);
    expect(other.core).not.toBe(first.core);
    expect(elsewhere.core).not.toBe(first.core);
  });

  it("tells configurations apart by the identity of functions and objects they hold", () => {
    const env = {};
    const fetchA: typeof fetch = (...args) => fetch(...args);
    const fetchB: typeof fetch = (...args) => fetch(...args);
    const a = deferred(env, { ...base, fetch: fetchA });
    const a2 = deferred(env, { ...base, fetch: fetchA });
    const b = deferred(env, { ...base, fetch: fetchB });
    expect(a2.core).toBe(a.core);
    expect(b.core).not.toBe(a.core);
  });

  it("applies the adapter's last look at the options (as Next.js does on the edge runtime)", () => {
    const auth = new DeferredOIDCAuth(base, {
      registry: "test",
      env: () => ({}),
      finish: (options) => ({ ...options, audience: "finished" }),
    });
    made.push(auth);
    expect(auth.core.config.audience).toBe("finished");
  });

  it("closes the core it made and makes a new one on the next use", async () => {
    const auth = deferred({}, base);
    const first = auth.core;
    await auth.close();
    expect(auth.started).toBe(false);
    expect(auth.core).not.toBe(first);
  });
});
