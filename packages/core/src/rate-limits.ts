import type { TokenBucketLimit } from "./token-bucket.js";

/**
 * What the rate limits count: `login` (GET login), `device` (POST device: starting a
 * device login), `token` (POST token: code, refresh and device-code grants) and `exchange`
 * (POST token with the RFC 8693 token-exchange grant).
 */
export type RateLimitedEndpoint = "login" | "device" | "token" | "exchange";

/** A bucket in the options: the defaults fill what is left out; `false` switches it off. */
export type BucketOption = Partial<TokenBucketLimit> | false;

/** The limits of one endpoint: per client IP, and per credential where the endpoint takes one. */
export interface EndpointRateLimitOptions {
  /** Requests per client address (IPv6: per /64). */
  ip?: BucketOption;
  /**
   * Requests per credential the request carries: the code, refresh token or device code
   * (`token`), the subject token (`exchange`). Keyed by its SHA-256; login and device take none.
   */
  credential?: BucketOption;
}

/** `rateLimits` in the options: each endpoint's limits, or `false` to switch an endpoint off. */
export type RateLimitOptions = Partial<
  Record<RateLimitedEndpoint, EndpointRateLimitOptions | false>
>;

/** The limits in force: a missing bucket is switched off. */
export type ResolvedRateLimits = Record<
  RateLimitedEndpoint,
  { ip?: TokenBucketLimit; credential?: TokenBucketLimit }
>;

/**
 * Generous defaults: what a whole office behind one address does, and what the test
 * suites do from 127.0.0.1, passes; a scripted burst does not. `token`'s credential bucket
 * lets 20 tabs refresh one credential at once; py-oidc-auth-client polls a device code
 * every 5 s, far below 1 a second.
 */
export const DEFAULT_RATE_LIMITS: Readonly<ResolvedRateLimits> = deepFreeze({
  login: { ip: { capacity: 100, refillPerSec: 1 } },
  device: { ip: { capacity: 60, refillPerSec: 1 } },
  token: {
    ip: { capacity: 80, refillPerSec: 1 },
    credential: { capacity: 30, refillPerSec: 1 },
  },
  // A gateway may exchange every user's token from one address.
  exchange: {
    ip: { capacity: 300, refillPerSec: 5 },
    credential: { capacity: 30, refillPerSec: 1 },
  },
});

/** Freezes an object and everything in it (the defaults are shared by every instance). */
function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) {
    if (inner && typeof inner === "object") deepFreeze(inner);
  }
  return Object.freeze(value);
}

/** Why a `rateLimits` option cannot work (the caller wraps it in a ConfigError). */
export class RateLimitOptionError extends Error {}

function resolveBucket(
  where: string,
  option: BucketOption | undefined,
  fallback: TokenBucketLimit | undefined,
): TokenBucketLimit | undefined {
  if (option === false || (option === undefined && !fallback)) return undefined;
  if (option !== undefined && (option === null || typeof option !== "object")) {
    throw new RateLimitOptionError(`rateLimits.${where} must be an object or false.`);
  }
  for (const name of Object.keys(option ?? {})) {
    if (name !== "capacity" && name !== "refillPerSec") {
      throw new RateLimitOptionError(`rateLimits.${where} has an unknown field ${name}.`);
    }
  }
  const capacity = option?.capacity ?? fallback?.capacity;
  const refillPerSec = option?.refillPerSec ?? fallback?.refillPerSec;
  if (
    typeof capacity !== "number" ||
    !Number.isInteger(capacity) ||
    capacity < 1 ||
    capacity > 1e6
  ) {
    throw new RateLimitOptionError(
      `rateLimits.${where}.capacity must be an integer from 1 to 1000000.`,
    );
  }
  if (
    typeof refillPerSec !== "number" ||
    !Number.isFinite(refillPerSec) ||
    refillPerSec <= 0 ||
    refillPerSec > 1e6
  ) {
    throw new RateLimitOptionError(
      `rateLimits.${where}.refillPerSec must be above 0 and at most 1000000.`,
    );
  }
  return { capacity, refillPerSec };
}

/**
 * The limits in force: the defaults with the options on top. Unknown endpoints or fields
 * are refused (a typo must not leave an endpoint unprotected without anyone noticing);
 * `credential` on login or device, which take no credential, too.
 */
export function resolveRateLimits(
  options: RateLimitOptions | false | undefined,
): ResolvedRateLimits {
  const off: ResolvedRateLimits = { login: {}, device: {}, token: {}, exchange: {} };
  if (options === false) return off;
  if (
    options !== undefined &&
    (options === null || typeof options !== "object" || Array.isArray(options))
  ) {
    throw new RateLimitOptionError("rateLimits must be an object or false.");
  }
  for (const name of Object.keys(options ?? {})) {
    if (!(name in DEFAULT_RATE_LIMITS)) {
      throw new RateLimitOptionError(`rateLimits has an unknown endpoint ${name}.`);
    }
  }
  const resolved = off;
  for (const name of Object.keys(DEFAULT_RATE_LIMITS) as RateLimitedEndpoint[]) {
    const option = options?.[name];
    if (option === false) continue;
    if (option !== undefined && (option === null || typeof option !== "object")) {
      throw new RateLimitOptionError(`rateLimits.${name} must be an object or false.`);
    }
    for (const field of Object.keys(option ?? {})) {
      if (field !== "ip" && field !== "credential") {
        throw new RateLimitOptionError(`rateLimits.${name} has an unknown field ${field}.`);
      }
    }
    const defaults = DEFAULT_RATE_LIMITS[name];
    if (!defaults.credential && option?.credential) {
      throw new RateLimitOptionError(`rateLimits.${name} takes no credential limit.`);
    }
    const ip = resolveBucket(`${name}.ip`, option?.ip, defaults.ip);
    const credential = resolveBucket(`${name}.credential`, option?.credential, defaults.credential);
    resolved[name] = { ...(ip && { ip }), ...(credential && { credential }) };
  }
  return resolved;
}
