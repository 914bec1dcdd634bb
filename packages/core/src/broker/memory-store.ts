import type { TokenBucketLimit, TokenBucketState, TokenTaken } from "../token-bucket.js";
import { fullAt, takeToken } from "../token-bucket.js";
import type {
  BrokerStore,
  PeerJwksRecord,
  SessionChanges,
  SessionRecord,
  SigningKeyRecord,
} from "./store.js";

/**
 * A {@link BrokerStore} in this process's memory: for tests, a single process, and edge
 * runtimes (Web APIs only). State is lost on restart and not shared between instances.
 *
 * Every value goes in and comes out as a copy (`structuredClone`), so callers cannot change
 * stored state by mutating an object they passed or received. Each method does its
 * check-and-set synchronously, so concurrent calls cannot interleave inside one: that is
 * what makes {@link updateSession} and {@link insertSigningKey} atomic.
 */
export class MemoryBrokerStore implements BrokerStore {
  readonly location = "memory://";
  readonly #keys = new Map<string, SigningKeyRecord>(); // by kid
  readonly #generations = new Map<number, string>(); // generation -> kid
  readonly #sessions = new Map<string, SessionRecord>(); // by id
  readonly #byRefreshHash = new Map<string, string>(); // refreshHash -> id (unique)
  readonly #byPreviousHash = new Map<string, Set<string>>(); // previousHash -> ids
  readonly #peers = new Map<string, PeerJwksRecord>(); // by issuer
  readonly #buckets = new Map<string, TokenBucketState & { fullAt: number }>(); // by key

  async setup(): Promise<void> {}

  async close(): Promise<void> {}

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return Array.from(this.#keys.values(), (key) => structuredClone(key));
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    if (this.#generations.has(key.generation) || this.#keys.has(key.kid)) return false;
    const copy = structuredClone(key);
    this.#keys.set(copy.kid, copy);
    this.#generations.set(copy.generation, copy.kid);
    return true;
  }

  async retireSigningKeys(beforeGeneration: number, retiredAt: number): Promise<void> {
    for (const key of this.#keys.values()) {
      if (key.generation < beforeGeneration && key.retiredAt === null) key.retiredAt = retiredAt;
    }
  }

  async deleteSigningKeys(retiredBefore: number): Promise<number> {
    let deleted = 0;
    for (const key of [...this.#keys.values()]) {
      if (key.retiredAt !== null && key.retiredAt < retiredBefore) {
        this.#keys.delete(key.kid);
        this.#generations.delete(key.generation);
        deleted++;
      }
    }
    return deleted;
  }

  async createSession(session: SessionRecord): Promise<void> {
    if (this.#sessions.has(session.id)) throw new Error("a session with this id exists");
    if (this.#byRefreshHash.has(session.refreshHash)) {
      throw new Error("a session with this refresh hash exists");
    }
    const copy = structuredClone(session);
    this.#sessions.set(copy.id, copy);
    this.#index(copy);
  }

  async findSessionByRefreshHash(hash: string): Promise<SessionRecord | undefined> {
    const id =
      this.#byRefreshHash.get(hash) ?? this.#byPreviousHash.get(hash)?.values().next().value;
    const session = id === undefined ? undefined : this.#sessions.get(id);
    return session && structuredClone(session);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const session = this.#sessions.get(id);
    return session && structuredClone(session);
  }

  async updateSession(id: string, expectedHash: string, changes: SessionChanges): Promise<boolean> {
    const current = this.#sessions.get(id);
    if (!current || current.refreshHash !== expectedHash) return false;
    const next: SessionRecord = { ...current };
    for (const [name, value] of Object.entries(structuredClone(changes))) {
      if (value === undefined || name === "id" || name === "createdAt") continue;
      (next as unknown as Record<string, unknown>)[name] = value;
    }
    if (next.refreshHash !== current.refreshHash && this.#byRefreshHash.has(next.refreshHash)) {
      throw new Error("a session with this refresh hash exists");
    }
    this.#unindex(current);
    this.#sessions.set(id, next);
    this.#index(next);
    return true;
  }

  async deleteSession(id: string): Promise<void> {
    const session = this.#sessions.get(id);
    if (!session) return;
    this.#unindex(session);
    this.#sessions.delete(id);
  }

  async getPeerJwks(issuer: string): Promise<PeerJwksRecord | undefined> {
    const record = this.#peers.get(issuer);
    return record && structuredClone(record);
  }

  async putPeerJwks(record: PeerJwksRecord): Promise<void> {
    this.#peers.set(record.issuer, structuredClone(record));
  }

  async takeRateLimitToken(key: string, limit: TokenBucketLimit, now: number): Promise<TokenTaken> {
    const { state, taken } = takeToken(this.#buckets.get(key), limit, now);
    this.#buckets.set(key, { ...state, fullAt: fullAt(state, limit) });
    return taken;
  }

  async purgeExpired(now: number): Promise<number> {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.fullAt <= now) this.#buckets.delete(key);
    }
    let purged = 0;
    for (const session of [...this.#sessions.values()]) {
      if (session.expiresAt <= now) {
        this.#unindex(session);
        this.#sessions.delete(session.id);
        purged++;
      }
    }
    return purged;
  }

  #index(session: SessionRecord): void {
    this.#byRefreshHash.set(session.refreshHash, session.id);
    if (session.previousHash !== null) {
      let ids = this.#byPreviousHash.get(session.previousHash);
      if (!ids) {
        ids = new Set();
        this.#byPreviousHash.set(session.previousHash, ids);
      }
      ids.add(session.id);
    }
  }

  #unindex(session: SessionRecord): void {
    if (this.#byRefreshHash.get(session.refreshHash) === session.id) {
      this.#byRefreshHash.delete(session.refreshHash);
    }
    if (session.previousHash !== null) {
      const ids = this.#byPreviousHash.get(session.previousHash);
      ids?.delete(session.id);
      if (ids?.size === 0) this.#byPreviousHash.delete(session.previousHash);
    }
  }
}
