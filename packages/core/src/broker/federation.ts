import type { JSONWebKeySet } from "jose";
import type { ResolvedConfig } from "../config.js";
import { ResilientKeySet } from "../jwks.js";
import { describeError } from "../log.js";
import type { KeysRemovedListener } from "../token-cache.js";
import type { BrokerStore } from "./store.js";

/**
 * The keys of trusted peer instances, one key set per issuer: a key verifies only tokens
 * of the issuer that published it. Each set is fetched from `iss + brokerJwksPath`
 * (jose: cached, single-flight, cooldown on unknown kid) and persisted in the store, so a
 * cold instance verifies a peer's tokens while the peer is down.
 */
export class PeerKeys {
  readonly #config: ResolvedConfig;
  readonly #store: () => Promise<BrokerStore>;
  readonly #sets = new Map<string, Promise<ResilientKeySet>>();
  readonly #onKeysRemoved: KeysRemovedListener | undefined;

  constructor(
    config: ResolvedConfig,
    store: () => Promise<BrokerStore>,
    onKeysRemoved?: KeysRemovedListener,
  ) {
    this.#config = config;
    this.#store = store;
    this.#onKeysRemoved = onKeysRemoved;
  }

  /** True for a configured peer issuer (exact match). */
  trusts(issuer: string): boolean {
    return this.#config.trustedIssuers.includes(issuer);
  }

  /** The key set of a trusted peer. */
  keySet(issuer: string): Promise<ResilientKeySet> {
    let set = this.#sets.get(issuer);
    if (!set) {
      set = this.#create(issuer);
      this.#sets.set(issuer, set);
      set.catch(() => this.#sets.delete(issuer));
    }
    return set;
  }

  async #create(issuer: string): Promise<ResilientKeySet> {
    const logger = this.#config.logger;
    let persisted: { jwks: JSONWebKeySet; fetchedAt: number } | undefined;
    try {
      persisted = await (await this.#store()).getPeerJwks(issuer);
    } catch (err) {
      logger.warn("could not read a peer's persisted keys", describeError(err));
    }
    const url = new URL(`${issuer.replace(/\/+$/, "")}${this.#config.brokerJwksPath}`);
    return new ResilientKeySet(url, {
      cooldownMs: this.#config.jwksCooldownMs,
      maxAgeMs: this.#config.jwksMaxAgeMs,
      timeoutMs: this.#config.timeoutMs,
      fetch: this.#config.fetch,
      logger,
      persisted,
      onKeysRemoved: this.#onKeysRemoved,
      onFetched: (jwks) => {
        const record = { issuer, jwks, fetchedAt: Math.floor(Date.now() / 1000) };
        void this.#store()
          .then((store) => store.putPeerJwks(record))
          .catch((err) => logger.warn("could not persist a peer's keys", describeError(err)));
      },
    });
  }
}
