import {
  type CryptoKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  jwksCache,
} from "jose";
import { invalidToken, OIDCAuthError, upstreamUnavailable } from "./errors.js";
import type { Logger } from "./log.js";
import { describeError } from "./log.js";
import type { KeysRemovedListener } from "./token-cache.js";

/** A key resolver as jose's `jwtVerify` takes it. */
export type KeyResolver = (
  header: JWSHeaderParameters,
  token: FlattenedJWSInput,
) => CryptoKey | Promise<CryptoKey>;

export interface KeySetOptions {
  /** Minimum time between fetches for an unknown kid, and the back-off after a failed one. */
  cooldownMs: number;
  maxAgeMs: number;
  timeoutMs: number;
  fetch?: typeof fetch | undefined;
  logger: Logger;
  /** A set persisted earlier (e.g. a peer's JWKS from the store): used until a fetch succeeds. */
  persisted?: { jwks: JSONWebKeySet; fetchedAt: number } | undefined;
  /** Called with each newly fetched set (to persist it). */
  onFetched?: ((jwks: JSONWebKeySet) => void) | undefined;
  /** Told the kids a newly fetched set no longer has (to drop tokens verified with them). */
  onKeysRemoved?: KeysRemovedListener | undefined;
}

/**
 * A remote JWKS that survives outages. jose's remote set does the fetching, caching,
 * single-flight reloads and the cooldown on unknown `kid`s; this adds one thing: when a
 * refresh of a stale set fails, the last keys that were fetched keep verifying, so an IdP
 * outage does not turn valid tokens into 503s. With nothing ever fetched, an outage is 503.
 * A failed fetch backs off: for the cooldown after it, no fetch is tried, and tokens are
 * answered at once from the last keys (or 503), instead of each request waiting for a
 * timeout of its own.
 */
export class ResilientKeySet {
  readonly #remote: ReturnType<typeof createRemoteJWKSet>;
  readonly #logger: Logger;
  /** jose writes each successfully fetched set here (by reference, no copy). */
  readonly #cache: { uat?: number; jwks?: JSONWebKeySet } = {};
  #lastGood: { jwks: JSONWebKeySet; resolver: KeyResolver } | undefined;

  readonly #onFetched: ((jwks: JSONWebKeySet) => void) | undefined;
  readonly #onKeysRemoved: KeysRemovedListener | undefined;
  /**
   * The keys jose chose for each `alg` and `kid` from the set in `#cache.jwks` (jose picks
   * by those two alone), so that while that set is fresh a verification gets its key
   * without jose's three promise layers. Emptied whenever jose loads another set.
   */
  #chosen = new Map<string, CryptoKey>();
  #chosenFrom: JSONWebKeySet | undefined;
  readonly #weakKeysLogged = new WeakSet<CryptoKey>();
  readonly #cooldownMs: number;
  /** When the last fetch failed (ms); -Infinity after a success. */
  #failedAt = Number.NEGATIVE_INFINITY;

  constructor(url: URL, options: KeySetOptions) {
    this.#logger = options.logger;
    this.#cooldownMs = options.cooldownMs;
    this.#onFetched = options.onFetched;
    this.#onKeysRemoved = options.onKeysRemoved;
    if (options.persisted) {
      const { jwks, fetchedAt } = options.persisted;
      this.#cache.uat = fetchedAt * 1000;
      this.#cache.jwks = jwks;
      try {
        this.#lastGood = { jwks, resolver: createLocalJWKSet(jwks) as KeyResolver };
      } catch {
        // a malformed persisted set is ignored; the next fetch replaces it
      }
    }
    const timeoutDuration = Math.max(1, Math.round(options.timeoutMs));
    this.#remote = createRemoteJWKSet(url, {
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: options.maxAgeMs,
      timeoutDuration,
      [jwksCache]: this.#cache as Record<string, never>,
      ...(options.fetch ? { [customFetch]: options.fetch } : {}),
    });
  }

  /**
   * Fetches the set now unless a fresh one is held, and answers how many keys it has
   * (readiness checks). Rejects with the fetch's own error, for diagnostics.
   */
  async ensureLoaded(): Promise<number> {
    if (!this.#remote.fresh || this.#cache.jwks === undefined) await this.#remote.reload();
    this.#remember();
    const keys = this.#cache.jwks?.keys;
    return Array.isArray(keys) ? keys.length : 0;
  }

  /** The resolver to hand to `jwtVerify`. */
  readonly resolve: KeyResolver = (header, token) => {
    if (this.#remote.fresh && this.#cache.jwks === this.#chosenFrom) {
      const key = this.#chosen.get(choiceKey(header));
      if (key !== undefined) return key;
    }
    return this.#resolveRemote(header, token);
  };

  async #resolveRemote(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (Date.now() - this.#failedAt < this.#cooldownMs) {
      // Backing off: the IdP is not asked again before the cooldown is over.
      if (this.#lastGood) return this.#usable(await this.#lastGood.resolver(header, token));
      throw upstreamUnavailable();
    }
    const setBefore = this.#cache.jwks;
    try {
      const key = this.#usable((await this.#remote(header, token)) as CryptoKey);
      this.#remember();
      // Remembered only if no other set was loaded meanwhile: a key chosen from the set
      // before a reload must never answer for the set after it (its kid may be gone).
      const jwks = this.#cache.jwks;
      if (jwks !== undefined && jwks === setBefore) {
        if (jwks !== this.#chosenFrom) {
          this.#chosen = new Map();
          this.#chosenFrom = jwks;
        }
        this.#chosen.set(choiceKey(header), key);
      }
      return key;
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) {
        this.#remember();
        throw err;
      }
      if (isKeyFailure(err) || err instanceof OIDCAuthError) throw err; // not an outage
      this.#failedAt = Date.now();
      const fallback = this.#lastGood;
      if (fallback) {
        this.#logger.warn(
          "JWKS refresh failed; verifying with the cached keys",
          describeError(err),
        );
        return this.#usable(await fallback.resolver(header, token));
      }
      this.#logger.warn("JWKS unreachable and no keys cached", describeError(err));
      throw upstreamUnavailable();
    }
  }

  /** The key, unless it is weak (then the token is refused and the key set's flaw logged once). */
  #usable(key: CryptoKey): CryptoKey {
    if (!isWeakRsaKey(key)) return key;
    if (!this.#weakKeysLogged.has(key)) {
      this.#weakKeysLogged.add(key);
      this.#logger.warn(
        "the key set holds an RSA key with a public exponent other than an odd number ≥ 65537 or a modulus under 2048 bits: never used to verify",
      );
    }
    throw invalidToken();
  }

  /** The single refetch in flight for {@link resolveFromTokenEndpoint}. */
  #refetching: Promise<void> | undefined;

  /**
   * The resolver for ID tokens that came from the IdP's token endpoint (not from whoever
   * sends a bearer token): a `kid` the cached set lacks means the IdP rotated its keys, so
   * the set is fetched again at once, one fetch however many callers wait, instead of
   * waiting out the cooldown that protects the IdP from bearer tokens with made-up kids.
   */
  readonly resolveFromTokenEndpoint: KeyResolver = async (header, token) => {
    try {
      return await this.resolve(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || header.kid === undefined) throw err;
      await this.#refetchNow();
      return this.resolve(header, token);
    }
  };

  async #refetchNow(): Promise<void> {
    this.#refetching ??= this.#remote
      .reload()
      .then(() => this.#remember())
      .catch((err) => {
        this.#logger.warn("JWKS refetch for an unknown kid failed", describeError(err));
        throw upstreamUnavailable();
      })
      .finally(() => {
        this.#refetching = undefined;
      });
    return this.#refetching;
  }

  #remember(): void {
    this.#failedAt = Number.NEGATIVE_INFINITY;
    const jwks = this.#cache.jwks;
    if (jwks && jwks !== this.#lastGood?.jwks) {
      const previous = this.#lastGood?.jwks;
      this.#lastGood = { jwks, resolver: createLocalJWKSet(jwks) as KeyResolver };
      this.#onFetched?.(jwks);
      if (previous && this.#onKeysRemoved) {
        const removed = removedKids(previous, jwks);
        if (removed.length > 0) this.#onKeysRemoved(removed);
      }
    }
  }
}

/**
 * RSA keys that must never verify anything: a public exponent below 65537 or even (with
 * e = 1 the "signature" is the padded message itself, so anyone can forge one; NIST SP
 * 800-56B asks for an odd e ≥ 65537), or a modulus under 2048 bits. Other key types pass.
 */
export function isWeakRsaKey(key: CryptoKey): boolean {
  const algorithm = key.algorithm as { modulusLength?: unknown; publicExponent?: unknown };
  if (typeof algorithm.modulusLength !== "number") return false;
  if (algorithm.modulusLength < 2048 || !(algorithm.publicExponent instanceof Uint8Array)) {
    return true;
  }
  let exponent = 0n;
  for (const byte of algorithm.publicExponent) exponent = (exponent << 8n) | BigInt(byte);
  return exponent < 65537n || exponent % 2n === 0n;
}

/**
 * What jose's choice of a key depends on: `alg` (from the verifier's allow-list, so never
 * containing NUL) and `kid` (absent and empty kept apart).
 */
function choiceKey(header: JWSHeaderParameters): string {
  return header.kid === undefined ? `${header.alg}\0` : `${header.alg}\0#${header.kid}`;
}

/**
 * The kids of the keys of `before` that `after` no longer has, the same key material
 * under the same kid counting as kept (`undefined` stands for a key without kid).
 */
function removedKids(before: JSONWebKeySet, after: JSONWebKeySet): (string | undefined)[] {
  const keysOf = (set: JSONWebKeySet) => (Array.isArray(set.keys) ? set.keys : []);
  const kept = new Set(keysOf(after).map((key) => JSON.stringify(key)));
  return keysOf(before)
    .filter((key) => !kept.has(JSON.stringify(key)))
    .map((key) => (typeof key.kid === "string" ? key.kid : undefined));
}

/** Errors that are about the token's header or key choice, not about reaching the IdP. */
function isKeyFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS" ||
    code === "ERR_JOSE_ALG_NOT_ALLOWED" ||
    code === "ERR_JOSE_NOT_SUPPORTED" ||
    code === "ERR_JWS_INVALID"
  );
}
