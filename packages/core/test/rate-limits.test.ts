/**
 * The parts of the rate limits HTTP cannot reach: address parsing, option resolution, and
 * a shared store that fails or hangs (the HTTP tests are in
 * examples/hono/test/security/rate-limits.test.ts).
 */
import { describe, expect, it } from "vitest";
import { clientAddressKey, clientAddressOf } from "../src/client-ip.js";
import { resolveConfig } from "../src/config.js";
import type { BrokerStore, Logger } from "../src/index.js";
import {
  ConfigError,
  DEFAULT_RATE_LIMITS,
  MemoryBrokerStore,
  OIDCAuthError,
  optionsFromEnv,
} from "../src/index.js";
import { RateLimiter } from "../src/rate-limiter.js";
import { retryAfterSec, takeToken } from "../src/token-bucket.js";

const base = {
  clientId: "app",
  discoveryUrl: "https://idp.example.org/.well-known/x",
  audience: "api",
};

describe("client addresses", () => {
  it("keys IPv4 as written, without a port", () => {
    expect(clientAddressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddressKey(" 203.0.113.7:5123 ")).toBe("203.0.113.7");
  });

  it("keys IPv6 by its /64, however it is spelled", () => {
    const key = "2001:db8:0:1::/64";
    expect(clientAddressKey("2001:db8:0:1::1")).toBe(key);
    expect(clientAddressKey("2001:0DB8:0000:0001:ffff:ffff:ffff:ffff")).toBe(key);
    expect(clientAddressKey("[2001:db8:0:1::2]:443")).toBe(key);
    expect(clientAddressKey("2001:db8:0:1::3%eth0")).toBe(key);
    expect(clientAddressKey("::1")).toBe("0:0:0:0::/64");
    expect(clientAddressKey("2001:db8:0:2::1")).not.toBe(key);
  });

  it("keys IPv4-mapped IPv6 as the IPv4 address (a dual-stack socket's view)", () => {
    expect(clientAddressKey("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(clientAddressKey("::ffff:7f00:1")).toBe("127.0.0.1");
  });

  it("answers undefined for anything that is not an address", () => {
    for (const text of [
      "",
      "unknown",
      "256.1.1.1",
      "1.2.3",
      "01.2.3.4",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "<script>",
    ]) {
      expect(clientAddressKey(text), text).toBeUndefined();
    }
  });

  it("reads a header only when configured, and then its last entry", () => {
    const request = new Request("http://app.test/", {
      headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.9" },
    });
    expect(clientAddressOf(request, "127.0.0.1", undefined)).toBe("127.0.0.1");
    expect(clientAddressOf(request, "127.0.0.1", "x-forwarded-for")).toBe("203.0.113.9");
    expect(clientAddressOf(request, "127.0.0.1", "x-real-ip")).toBe("127.0.0.1");
    expect(clientAddressOf(request, undefined, undefined)).toBeUndefined();
    const garbage = new Request("http://app.test/", { headers: { "x-real-ip": "nobody" } });
    expect(clientAddressOf(garbage, "127.0.0.1", "x-real-ip")).toBeUndefined();
  });
});

describe("token buckets", () => {
  const limit = { capacity: 2, refillPerSec: 0.25 };

  it("start full, empty, refill in fractions up to capacity", () => {
    let step = takeToken(undefined, limit, 100);
    expect(step.taken).toEqual({ allowed: true, tokens: 1 });
    step = takeToken(step.state, limit, 100);
    step = takeToken(step.state, limit, 100);
    expect(step.taken).toEqual({ allowed: false, tokens: 0 });
    expect(retryAfterSec(step.taken.tokens, limit)).toBe(4);
    step = takeToken(step.state, limit, 102);
    expect(step.taken).toEqual({ allowed: false, tokens: 0.5 });
    expect(retryAfterSec(step.taken.tokens, limit)).toBe(2);
    expect(takeToken(step.state, limit, 10_000).taken).toEqual({ allowed: true, tokens: 1 });
  });
});

describe("the rateLimits option", () => {
  it("is on by default with the documented numbers", () => {
    expect(resolveConfig(base).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
    expect(DEFAULT_RATE_LIMITS.login.ip).toEqual({ capacity: 100, refillPerSec: 1 });
  });

  it("switches off everything, one endpoint, or one bucket; numbers merge field by field", () => {
    const none = resolveConfig({ ...base, rateLimits: false }).rateLimits;
    expect(none).toEqual({ login: {}, device: {}, token: {}, exchange: {} });
    const some = resolveConfig({
      ...base,
      rateLimits: { login: false, token: { ip: false, credential: { capacity: 5 } } },
    }).rateLimits;
    expect(some.login).toEqual({});
    expect(some.token).toEqual({ credential: { capacity: 5, refillPerSec: 1 } });
    expect(some.device).toEqual(DEFAULT_RATE_LIMITS.device);
  });

  it("comes from OIDC_RATE_LIMITS (JSON) and OIDC_CLIENT_IP_HEADER", () => {
    const options = optionsFromEnv({
      OIDC_RATE_LIMITS: '{"device":false}',
      OIDC_CLIENT_IP_HEADER: "X-Real-IP",
    });
    expect(options).toEqual({ rateLimits: { device: false }, clientIpHeader: "X-Real-IP" });
    const config = resolveConfig({ ...base, ...options });
    expect(config.rateLimits.device).toEqual({});
    expect(config.clientIpHeader).toBe("x-real-ip");
    expect(optionsFromEnv({ OIDC_RATE_LIMITS: "false" }).rateLimits).toBe(false);
  });

  it("refuses typos and numbers that cannot work, at startup", () => {
    for (const rateLimits of [
      { logon: false },
      { login: { ipp: false } },
      { login: { credential: { capacity: 5 } } },
      { login: { ip: { capacity: 0 } } },
      { login: { ip: { capacity: 1.5 } } },
      { login: { ip: { refillPerSec: 0 } } },
      { login: { ip: { refillPerSec: Number.NaN } } },
      { login: { ip: { capacity: "10" } } },
      { login: { ip: { capacity: 10, rate: 1 } } },
      { login: true },
      [],
    ]) {
      expect(
        () => resolveConfig({ ...base, rateLimits: rateLimits as never }),
        JSON.stringify(rateLimits),
      ).toThrow(ConfigError);
    }
    expect(() => resolveConfig({ ...base, clientIpHeader: "x forwarded" })).toThrow(ConfigError);
  });
});

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const noop = () => {};
  return {
    warnings,
    debug: noop,
    info: noop,
    error: noop,
    warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields ?? {})}`),
  };
}

function limiterOn(store: BrokerStore, logger: Logger) {
  const config = resolveConfig({
    ...base,
    rateLimits: { login: { ip: { capacity: 2, refillPerSec: 0.001 } } },
    logger,
  });
  return new RateLimiter(config, async () => store);
}

const loginRequest = () => new Request("http://app.test/auth/v2/login");

/** Admits `count` logins from one address; answers the statuses (200 = admitted). */
async function admitLogins(limiter: RateLimiter, count: number): Promise<number[]> {
  const statuses = [];
  for (let i = 0; i < count; i++) {
    try {
      await limiter.admit("login", loginRequest(), "198.51.100.4");
      statuses.push(200);
    } catch (err) {
      if (!(err instanceof OIDCAuthError)) throw err;
      statuses.push(err.status);
    }
  }
  return statuses;
}

describe("a shared store that fails", () => {
  it("counts in the instance instead: never an error, the limit still holds, one warning", async () => {
    const broken = new MemoryBrokerStore();
    broken.takeRateLimitToken = () => Promise.reject(new Error("connection refused"));
    const logger = recordingLogger();
    expect(await admitLogins(limiterOn(broken, logger), 3)).toEqual([200, 200, 429]);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).not.toContain("198.51.100.4");
  });

  it("that hangs, is given up on after a second, and then left alone for a while", async () => {
    const hanging = new MemoryBrokerStore();
    hanging.takeRateLimitToken = () => new Promise(() => {});
    const started = Date.now();
    expect(await admitLogins(limiterOn(hanging, recordingLogger()), 3)).toEqual([200, 200, 429]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("that works, holds the buckets: a second limiter on it shares them", async () => {
    const store = new MemoryBrokerStore();
    const logger = recordingLogger();
    expect(await admitLogins(limiterOn(store, logger), 1)).toEqual([200]);
    expect(await admitLogins(limiterOn(store, logger), 2)).toEqual([200, 429]);
    expect(logger.warnings).toEqual([]);
  });
});

describe("a request without a client address", () => {
  it("skips the per-IP limits (with one warning) and keeps the per-credential ones", async () => {
    const logger = recordingLogger();
    const config = resolveConfig({
      ...base,
      rateLimits: {
        login: { ip: { capacity: 1, refillPerSec: 0.001 } },
        token: { credential: { capacity: 1, refillPerSec: 0.001 } },
      },
      logger,
    });
    const limiter = new RateLimiter(config);
    await limiter.admit("login", loginRequest(), undefined);
    await limiter.admit("login", loginRequest(), undefined);
    expect(logger.warnings).toHaveLength(1);
    const refresh = () =>
      new Request("http://app.test/auth/v2/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "refresh-token=abc",
      });
    await limiter.admit("token", refresh(), undefined);
    await expect(limiter.admit("token", refresh(), undefined)).rejects.toMatchObject({
      status: 429,
      error: "slow_down",
    });
  });
});
