import {
  type CryptoKey,
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
} from "jose";
import { storeUnavailable } from "../errors.js";
import type { Logger } from "../log.js";
import { describeError } from "../log.js";
import type { KeysRemovedListener } from "../token-cache.js";
import type { AtRest } from "./at-rest.js";
import type { BrokerStore, SigningKeyRecord } from "./store.js";

export type BrokerAlgorithm = "RS256" | "PS256" | "ES256" | "EdDSA";

export interface SigningKeysOptions {
  store: BrokerStore;
  atRest: AtRest;
  algorithm: BrokerAlgorithm;
  /** How long a retired key stays published: the longest token lifetime plus tolerance. */
  retentionSec: number;
  /** Rotate automatically when the active key is older than this; undefined: never. */
  rotationIntervalSec: number | undefined;
  /** Minimum time between two reloads from the store for an unknown kid. */
  reloadCooldownMs: number;
  /**
   * How old the keys held in memory may get before they are reread from the store: the
   * bound within which a rotation on another instance is signed with and published here.
   */
  reloadIntervalMs: number;
  logger: Logger;
  /** Told the kids a reload no longer publishes (to drop tokens verified with them). */
  onKeysRemoved?: KeysRemovedListener | undefined;
}

interface ActiveKey {
  kid: string;
  alg: string;
  generation: number;
  createdAt: number;
  privateKey: CryptoKey;
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * The store's signing key was sealed with another secret than the configured ones: the
 * store belongs to another configuration (or the secret changed without keeping the old
 * one). Requests answer 503 meanwhile; `ready()` reports it at startup with the store's
 * location.
 */
export class SigningKeySealedError extends Error {
  override readonly name = "SigningKeySealedError";

  constructor(readonly kid: string) {
    super("the broker's signing key cannot be decrypted with the configured secrets");
  }
}

/**
 * The broker's signing keys. The first use generates a key (generation 1) and stores it;
 * N instances racing on an empty store agree on the one that was inserted first. Rotation
 * inserts the next generation and retires the previous ones, which stay in the JWKS until
 * the tokens they signed have expired. Verification of own tokens uses keys held in
 * memory; an unknown kid reloads from the store at most once per cooldown. Keys held
 * longer than the reload interval are reread before signing or publishing, so that a
 * rotation on any instance sharing the store reaches this one within that interval.
 */
export class SigningKeys {
  readonly #options: SigningKeysOptions;
  #records: SigningKeyRecord[] = [];
  #active: ActiveKey | undefined;
  #publicSet: ReturnType<typeof createLocalJWKSet> | undefined;
  #loading: Promise<void> | undefined;
  #lastLoad = 0;

  constructor(options: SigningKeysOptions) {
    this.#options = options;
  }

  /** The active key, generated on first use. */
  async active(): Promise<ActiveKey> {
    if (!this.#active) await this.#load();
    else if (this.#stale()) await this.#refresh();
    if (!this.#active) await this.#insertGeneration(1);
    const active = this.#active as ActiveKey | undefined;
    if (!active) throw new Error("no signing key after generation");
    const interval = this.#options.rotationIntervalSec;
    if (interval !== undefined && now() - active.createdAt >= interval) {
      await this.#insertGeneration(active.generation + 1);
    }
    return this.#active as ActiveKey;
  }

  /** Inserts a new key generation and makes it active (another instance may win the race). */
  async rotate(): Promise<{ kid: string }> {
    await this.#load(); // the newest generation, whoever rotated last
    const current = await this.active();
    await this.#insertGeneration(current.generation + 1);
    return { kid: (this.#active as ActiveKey).kid };
  }

  #stale(): boolean {
    return Date.now() - this.#lastLoad >= this.#options.reloadIntervalMs;
  }

  /** Rereads stale keys; a store that fails meanwhile leaves the keys held in memory in use. */
  async #refresh(): Promise<void> {
    try {
      await this.#load();
    } catch (err) {
      this.#options.logger.warn(
        "could not reread the broker's keys; signing with the ones held",
        describeError(err),
      );
    }
  }

  /** The public keys to publish: the active one and retired ones still within retention. */
  async jwks(): Promise<JSONWebKeySet> {
    await this.active();
    return { keys: this.#published().map((r) => r.publicJwk) };
  }

  /** Resolver for jose's jwtVerify over own keys; reloads once per cooldown on an unknown kid. */
  readonly resolve = async (
    header: { kid?: string; alg?: string },
    token: unknown,
  ): Promise<CryptoKey> => {
    const kid = header.kid;
    const unknown = kid !== undefined && !this.#records.some((r) => r.kid === kid);
    const cooled = Date.now() - this.#lastLoad >= this.#options.reloadCooldownMs;
    if (this.#publicSet && !unknown && this.#stale()) {
      // Retirements elsewhere arrive within the interval too; not on the hot path's time.
      void this.#refresh();
    }
    if (this.#publicSet && unknown && !cooled) {
      // Maybe a sibling instance's brand-new key: wait out the (short) cooldown and reread,
      // rather than refuse a token that is valid. Waiters share one reread.
      const wait = this.#options.reloadCooldownMs - (Date.now() - this.#lastLoad);
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      if (!this.#records.some((r) => r.kid === kid)) await this.#refresh();
    } else if (!this.#publicSet || (unknown && cooled)) {
      try {
        await this.#load();
      } catch (err) {
        // Keys we already hold keep verifying; with none, fail closed.
        if (!this.#publicSet) {
          this.#options.logger.warn("could not load the broker's keys", describeError(err));
          throw storeUnavailable();
        }
      }
    }
    const set = this.#publicSet ?? createLocalJWKSet({ keys: [] });
    return set(header as never, token as never);
  };

  #published(): SigningKeyRecord[] {
    const cutoff = now() - this.#options.retentionSec;
    return this.#records
      .filter((r) => r.retiredAt === null || r.retiredAt > cutoff)
      .sort((a, b) => b.generation - a.generation);
  }

  /** Reloads the keys from the store (single-flight). */
  async #load(): Promise<void> {
    this.#loading ??= this.#reload().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #reload(): Promise<void> {
    this.#lastLoad = Date.now();
    const records = await this.#options.store.listSigningKeys();
    const before = this.#publicSet ? this.#published().map((r) => r.kid) : [];
    this.#records = records;
    const published = this.#published();
    this.#publicSet = createLocalJWKSet({ keys: published.map((r) => r.publicJwk) });
    const removed = before.filter((kid) => !published.some((r) => r.kid === kid));
    if (removed.length > 0) this.#options.onKeysRemoved?.(removed);
    const newest = records.reduce<SigningKeyRecord | undefined>(
      (best, r) => (!best || r.generation > best.generation ? r : best),
      undefined,
    );
    if (newest && newest.kid !== this.#active?.kid) {
      const text = await this.#options.atRest.decrypt(newest.privateKey);
      if (text === undefined) {
        this.#options.logger.error(
          "the broker's signing key cannot be decrypted with the configured secrets (was the secret changed without keeping the old one?)",
        );
        throw new SigningKeySealedError(newest.kid);
      }
      const privateKey = (await importJWK(JSON.parse(text) as JWK, newest.alg)) as CryptoKey;
      this.#active = {
        kid: newest.kid,
        alg: newest.alg,
        generation: newest.generation,
        createdAt: newest.createdAt,
        privateKey,
      };
    }
  }

  async #insertGeneration(generation: number): Promise<void> {
    const alg = this.#options.algorithm;
    const { publicKey, privateKey } = await generateKeyPair(alg, {
      extractable: true,
      crv: "Ed25519",
    });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    Object.assign(publicJwk, { kid, alg, use: "sig" });
    const privateJwk = await exportJWK(privateKey);
    const record: SigningKeyRecord = {
      kid,
      generation,
      alg,
      publicJwk,
      privateKey: await this.#options.atRest.encrypt(JSON.stringify(privateJwk)),
      createdAt: now(),
      retiredAt: null,
    };
    // Insert and retire in one atomic step: no instance ever reads two active keys or none.
    const inserted =
      generation === 1
        ? await this.#options.store.insertSigningKey(record)
        : await this.#options.store.rotateSigningKey(record, now());
    if (inserted) this.#options.logger.info("broker signing key created", { kid, generation });
    await this.#load();
  }
}
