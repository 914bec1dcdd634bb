import type { BrokerStore } from "./broker/store.js";
import { clientAddressOf } from "./client-ip.js";
import type { EndpointName, ResolvedConfig } from "./config.js";
import { tooManyRequests } from "./errors.js";
import { describeError, type Logger } from "./log.js";
import type { RateLimitedEndpoint, ResolvedRateLimits } from "./rate-limits.js";
import { readForm } from "./request-body.js";
import type { TokenBucketLimit, TokenBucketState, TokenTaken } from "./token-bucket.js";
import { retryAfterSec, takeToken } from "./token-bucket.js";

const GRANT_CODE = "authorization_code";
const GRANT_REFRESH = "refresh_token";
const GRANT_DEVICE = "urn:ietf:params:oauth:grant-type:device_code";
const GRANT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

/** A shared store slower than this counts as failed: logins do not wait on a sick database. */
const STORE_TIMEOUT_MS = 1000;
/** After a store failure, buckets stay in the instance this long before the store is tried again. */
const STORE_RETRY_MS = 5000;
/** At most one warning about a failing store (or a missing client address) per this long. */
const WARN_INTERVAL_MS = 60_000;
/** Buckets the in-process limiter keeps; beyond, the least recently used goes. */
const LOCAL_BUCKETS = 50_000;

const encoder = new TextEncoder();

async function sha256Base64Url(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return btoa(String.fromCharCode(...digest))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** What a request is counted as: which endpoint's limits, and the credential it carries. */
interface Counted {
  limit: RateLimitedEndpoint;
  credential?: string | undefined;
}

/** The first non-empty value of the named parameters. */
function firstParam(form: URLSearchParams, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = form.get(name);
    if (value) return value;
  }
  return undefined;
}

/**
 * What a token request is counted as. The credential is the one the token endpoint will
 * use for the grant, picked the same way (explicit `grant_type`, else the parameters
 * present), so that sending a decoy parameter cannot move a request to another bucket. A
 * body the endpoint will refuse counts against the address only.
 */
async function countTokenRequest(request: Request): Promise<Counted> {
  let form: URLSearchParams;
  try {
    form = await readForm(request.clone());
  } catch {
    return { limit: "token" };
  }
  const grant =
    form.get("grant_type") ||
    (form.get("code") !== null
      ? GRANT_CODE
      : form.has("refresh-token") || form.has("refresh_token")
        ? GRANT_REFRESH
        : form.has("device-code") || form.has("device_code")
          ? GRANT_DEVICE
          : undefined);
  switch (grant) {
    case GRANT_EXCHANGE:
      return { limit: "exchange", credential: firstParam(form, "subject_token") };
    case GRANT_CODE:
      return { limit: "token", credential: firstParam(form, "code") };
    case GRANT_REFRESH:
      return { limit: "token", credential: firstParam(form, "refresh-token", "refresh_token") };
    case GRANT_DEVICE:
      return { limit: "token", credential: firstParam(form, "device-code", "device_code") };
    default:
      return { limit: "token" };
  }
}

/** Token buckets in this process's memory, bounded (least recently used go first). */
class LocalBuckets {
  readonly #buckets = new Map<string, TokenBucketState>();

  take(key: string, limit: TokenBucketLimit, now: number): TokenTaken {
    const { state, taken } = takeToken(this.#buckets.get(key), limit, now);
    this.#buckets.delete(key);
    this.#buckets.set(key, state);
    if (this.#buckets.size > LOCAL_BUCKETS) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return taken;
  }
}

/** Logs a warning at most once per interval. */
function throttledWarning(logger: Logger, message: string) {
  let last = Number.NEGATIVE_INFINITY;
  return (fields?: Record<string, unknown>) => {
    const now = Date.now();
    if (now - last < WARN_INTERVAL_MS) return;
    last = now;
    logger.warn(message, fields);
  };
}

/**
 * The rate limits of the login, device, token and exchange endpoints: token buckets per
 * client address and per credential. With a shared store (broker mode) the buckets live in
 * the store, so every instance on it counts together; without one, or while the store
 * fails, in this process. A store failure never refuses a request by itself (see
 * SECURITY.md: the limits then hold per instance).
 */
export class RateLimiter {
  readonly #limits: ResolvedRateLimits;
  readonly #clientIpHeader: string | undefined;
  readonly #sharedStore: (() => Promise<BrokerStore>) | undefined;
  readonly #local = new LocalBuckets();
  /** Until when (ms) the shared store is left alone after a failure. */
  #storeDownUntil = 0;
  readonly #storeFailed: (fields?: Record<string, unknown>) => void;
  readonly #noAddress: () => void;

  constructor(config: ResolvedConfig, sharedStore?: () => Promise<BrokerStore>) {
    this.#limits = config.rateLimits;
    this.#clientIpHeader = config.clientIpHeader;
    this.#sharedStore = sharedStore;
    this.#storeFailed = throttledWarning(
      config.logger,
      "rate limits: the store failed, counting in this instance meanwhile",
    );
    this.#noAddress = throttledWarning(
      config.logger,
      "rate limits per client IP skipped: the request has no client address (set clientIpHeader behind a proxy)",
    );
  }

  /**
   * Counts a request to `endpoint` and throws a 429 {@link OIDCAuthError} with
   * `Retry-After` when one of its buckets is empty. `socketAddress` is the client address
   * the adapter knows (none on some platforms).
   */
  async admit(
    endpoint: EndpointName,
    request: Request,
    socketAddress: string | undefined,
  ): Promise<void> {
    const counted = await this.#count(endpoint, request);
    if (!counted) return;
    const limits = this.#limits[counted.limit];
    if (limits.ip) {
      const address = clientAddressOf(request, socketAddress, this.#clientIpHeader);
      if (address === undefined) this.#noAddress();
      else await this.#take(`${counted.limit}:ip:${address}`, limits.ip);
    }
    if (limits.credential && counted.credential) {
      const hash = await sha256Base64Url(counted.credential);
      await this.#take(`${counted.limit}:credential:${hash}`, limits.credential);
    }
  }

  async #count(endpoint: EndpointName, request: Request): Promise<Counted | undefined> {
    switch (endpoint) {
      case "login":
      case "device":
        return this.#limits[endpoint].ip ? { limit: endpoint } : undefined;
      case "token": {
        const { token, exchange } = this.#limits;
        if (!token.ip && !token.credential && !exchange.ip && !exchange.credential) return;
        return countTokenRequest(request);
      }
      default:
        return undefined;
    }
  }

  /** Takes a token from the bucket `key`, in the shared store when there is one. */
  async #take(key: string, limit: TokenBucketLimit): Promise<void> {
    const now = Date.now() / 1000;
    const taken = (await this.#takeShared(key, limit, now)) ?? this.#local.take(key, limit, now);
    if (!taken.allowed) throw tooManyRequests(retryAfterSec(taken.tokens, limit));
  }

  /** The shared store's answer; undefined without a shared store, or when it failed. */
  async #takeShared(
    key: string,
    limit: TokenBucketLimit,
    now: number,
  ): Promise<TokenTaken | undefined> {
    const sharedStore = this.#sharedStore;
    if (!sharedStore || Date.now() < this.#storeDownUntil) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Opening the store counts too: a cold or unreachable database must not hold logins up.
      const attempt = sharedStore().then((store) => store.takeRateLimitToken?.(key, limit, now));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("rate limit store timeout")), STORE_TIMEOUT_MS);
      });
      return await Promise.race([attempt, timeout]);
    } catch (err) {
      // A sick store is not asked on every request: each would wait for the timeout.
      this.#storeDownUntil = Date.now() + STORE_RETRY_MS;
      this.#storeFailed(describeError(err));
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}
