import type { IDToken } from "./claims.js";

/** A verified token and the `kid` of the key that verified it (undefined without one). */
export interface VerifiedToken {
  token: IDToken;
  kid: string | undefined;
}

/** A verifier as the cache calls it on a miss. */
export type VerifyUncached = (token: string) => Promise<VerifiedToken>;

/**
 * Told the `kid`s a key set no longer publishes (`undefined` stands for a key without
 * `kid`), so that verifications made with those keys are forgotten.
 */
export type KeysRemovedListener = (kids: readonly (string | undefined)[]) => void;

export interface TokenCacheOptions {
  /** Most entries kept (least recently used goes first); 0 disables the cache. */
  capacity: number;
  /** Longest time an entry is kept, whatever the token's `exp`, in milliseconds. */
  maxAgeMs: number;
  /** The verifiers' clock tolerance: an entry is used exactly while jose accepts the token. */
  clockToleranceSec: number;
  /** Longer tokens are not hashed; the verifier refuses them. */
  maxTokenBytes: number;
}

/** What {@link TokenCache.stats} reports. */
export interface TokenCacheStats {
  size: number;
  capacity: number;
  hits: number;
  misses: number;
}

interface Entry {
  token: IDToken;
  /** `kid` of the key that verified the token (from its header); undefined without one. */
  kid: string | undefined;
  /** First valid and first invalid millisecond, as jose judges `nbf`/`iat` and `exp`. */
  validFromMs: number;
  expiresAtMs: number;
}

type HashFunction = (algorithm: string, data: string, encoding: "base64") => string;

/**
 * node:crypto's one-shot `hash()` where the runtime offers it (Node ≥ 20.12, Deno, Bun;
 * looked up at run time, so edge bundles import no Node built-in). It costs ~1 µs for a
 * 1 KB token and is synchronous, where Web Crypto's `digest` costs ~20–45 µs on Node (a
 * thread-pool round trip), a third of an RS256 verification. Elsewhere Web Crypto hashes.
 */
const nodeHash: HashFunction | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const crypto = proc?.getBuiltinModule?.("node:crypto") as { hash?: unknown } | undefined;
    return typeof crypto?.hash === "function" ? (crypto.hash as HashFunction) : undefined;
  } catch {
    return undefined;
  }
})();

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

async function webCryptoHash(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(token)));
  let hex = "";
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

/** Freezes the token and everything in it: cached claims are shared by every request. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * jose's NumericDate checks compare whole seconds (`exp <= now - tolerance` fails, with
 * `now` rounded down): as a millisecond bound that is the next whole second.
 */
function secondsToMs(seconds: number): number {
  return Math.ceil(seconds) * 1000;
}

/**
 * The verified-token cache of the guard: a bounded LRU from the SHA-256 of a token to its
 * verified claims, so a token seen before costs a hash and a map lookup instead of a
 * signature check. Only successful verifications are stored. An entry is used only while
 * the verifier itself would accept the token (`exp`, `nbf` and `iat` with the same clock
 * tolerance, checked on every read), and never longer than `maxAgeMs`; outside that window
 * the token is verified again, so it fails exactly as an uncached one. Entries of a key
 * that disappears from its key set are dropped (see {@link invalidateKeys}). Scope and
 * claim constraints are per route and are checked by the caller on every request.
 */
export class TokenCache {
  readonly #options: TokenCacheOptions;
  /** Map order is recency: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  /** Verifications in flight by key: concurrent requests with one new token share one. */
  readonly #pending = new Map<string, Promise<IDToken>>();
  /** Bumped on every invalidation: a verification that overlapped one is not stored. */
  #generation = 0;
  #hits = 0;
  #misses = 0;

  constructor(options: TokenCacheOptions) {
    this.#options = options;
  }

  /**
   * The verified claims of `token`: synchronously from the cache when hashing is
   * synchronous (node:crypto), else the promise of `verifyUncached`'s answer (then
   * stored). Concurrent calls with the same uncached token share one verification. The
   * answer is deeply frozen.
   */
  verify(token: string, verifyUncached: VerifyUncached): IDToken | Promise<IDToken> {
    const { capacity, maxTokenBytes } = this.#options;
    if (capacity === 0 || token.length > maxTokenBytes) {
      return verifyUncached(token).then((verified) => deepFreeze(verified.token));
    }
    if (nodeHash) {
      const key = nodeHash("sha256", token, "base64");
      return this.#read(key) ?? this.#verifyMiss(key, token, verifyUncached);
    }
    return webCryptoHash(token).then((key) => this.#verifyKeyed(key, token, verifyUncached));
  }

  /** {@link verify} once the token's key is known (no promise layer of its own). */
  #verifyKeyed(key: string, token: string, verifyUncached: VerifyUncached): Promise<IDToken> {
    const cached = this.#read(key);
    return cached !== undefined
      ? Promise.resolve(cached)
      : this.#verifyMiss(key, token, verifyUncached);
  }

  /** A token the cache does not hold: its verification, shared by concurrent callers. */
  #verifyMiss(key: string, token: string, verifyUncached: VerifyUncached): Promise<IDToken> {
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      this.#misses++;
      pending = this.#verifyAndStore(key, token, verifyUncached);
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /**
   * Forgets the verifications made with keys that were removed from their key set. A
   * token without `kid` may have been verified by any key, so its entry goes whenever a
   * key is removed. Over-invalidation only costs a verification.
   */
  invalidateKeys(kids: readonly (string | undefined)[]): void {
    if (kids.length === 0) return;
    this.#generation++;
    const removed = new Set(kids);
    for (const [key, entry] of this.#entries) {
      if (entry.kid === undefined || removed.has(entry.kid)) this.#entries.delete(key);
    }
  }

  /** Current size, capacity and hit/miss counts since construction. */
  stats(): TokenCacheStats {
    return {
      size: this.#entries.size,
      capacity: this.#options.capacity,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  /** The entry's token if it is valid now; the read makes it the most recently used. */
  #read(key: string): IDToken | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = Date.now();
    this.#entries.delete(key);
    if (now >= entry.expiresAtMs || now < entry.validFromMs) return undefined;
    this.#entries.set(key, entry);
    this.#hits++;
    return entry.token;
  }

  async #verifyAndStore(
    key: string,
    token: string,
    verifyUncached: VerifyUncached,
  ): Promise<IDToken> {
    const generation = this.#generation;
    try {
      const { token: verified, kid } = await verifyUncached(token);
      deepFreeze(verified);
      if (generation === this.#generation) this.#store(key, verified, kid);
      return verified;
    } finally {
      this.#pending.delete(key);
    }
  }

  #store(key: string, verified: IDToken, kid: string | undefined): void {
    const tolerance = this.#options.clockToleranceSec;
    const validFrom = Math.max(verified.nbf ?? -Infinity, verified.iat ?? -Infinity) - tolerance;
    const expiresAtMs = Math.min(
      secondsToMs(verified.exp + tolerance),
      Date.now() + this.#options.maxAgeMs,
    );
    if (!Number.isFinite(expiresAtMs)) return;
    this.#entries.set(key, {
      token: verified,
      kid,
      validFromMs: Number.isFinite(validFrom) ? secondsToMs(validFrom) : -Infinity,
      expiresAtMs,
    });
    if (this.#entries.size > this.#options.capacity) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}
