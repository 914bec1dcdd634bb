import type { TokenBucketLimit, TokenBucketState, TokenTaken } from "../token-bucket.js";
import { fullAt, takeToken } from "../token-bucket.js";
import type {
  BrokerStore,
  NativeLoginRecord,
  PeerJwksRecord,
  RotationOutcome,
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
 * what makes {@link updateSession}, {@link completeRotation} and {@link rotateSigningKey} atomic.
 */
export class MemoryBrokerStore implements BrokerStore {
  readonly location = "memory://";
  readonly #keys = new Map<string, SigningKeyRecord>(); // by kid
  readonly #generations = new Map<number, string>(); // generation -> kid
  readonly #sessions = new Map<string, SessionRecord>(); // by id
  readonly #byRefreshHash = new Map<string, string>(); // refreshHash -> id (unique)
  readonly #byRetiredHash = new Map<string, string>(); // any retired hash -> id
  readonly #peers = new Map<string, PeerJwksRecord>(); // by issuer
  readonly #buckets = new Map<string, TokenBucketState & { fullAt: number }>(); // by key
  readonly #nativeLogins = new Map<string, NativeLoginRecord>(); // by code challenge
  readonly #usedIds = new Map<string, number>(); // single-use id -> expiresAt

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

  async rotateSigningKey(key: SigningKeyRecord, retiredAt: number): Promise<boolean> {
    // Synchronous from check to retire: no other call runs in between.
    if (this.#generations.has(key.generation) || this.#keys.has(key.kid)) return false;
    for (const other of this.#keys.values()) {
      if (other.generation < key.generation && other.retiredAt === null)
        other.retiredAt = retiredAt;
    }
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
    const id = this.#byRefreshHash.get(hash) ?? this.#byRetiredHash.get(hash);
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

  async claimRotation(
    id: string,
    currentHash: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (!session || session.refreshHash !== currentHash) return false;
    if (session.rotationLeaseUntil !== null && session.rotationLeaseUntil > now) return false;
    session.rotationLease = lease;
    session.rotationLeaseUntil = leaseUntil;
    return true;
  }

  async releaseRotation(id: string, lease: string): Promise<void> {
    const session = this.#sessions.get(id);
    if (session?.rotationLease !== lease) return;
    session.rotationLease = null;
    session.rotationLeaseUntil = null;
  }

  async completeRotation(
    id: string,
    currentHash: string,
    lease: string,
    outcome: RotationOutcome,
  ): Promise<boolean> {
    const current = this.#sessions.get(id);
    if (!current || current.refreshHash !== currentHash || current.rotationLease !== lease) {
      return false;
    }
    if (
      this.#byRefreshHash.has(outcome.refreshHash) ||
      this.#byRetiredHash.has(outcome.refreshHash)
    ) {
      throw new Error("a session with this refresh hash exists");
    }
    const next: SessionRecord = {
      ...current,
      ...structuredClone(outcome),
      previousHash: currentHash,
      retiredHashes: [...current.retiredHashes, currentHash],
      rotationLease: null,
      rotationLeaseUntil: null,
    };
    this.#unindex(current);
    this.#sessions.set(id, next);
    this.#index(next);
    return true;
  }

  async deleteSessionsOfSubject(subject: string): Promise<number> {
    return this.#deleteSessionsWhere((session) => session.subject === subject);
  }

  async deleteSessionsOfIdpSession(idpSessionId: string): Promise<number> {
    return this.#deleteSessionsWhere((session) => session.idpSessionId === idpSessionId);
  }

  /** Deletes the sessions that match, synchronously (no other call runs in between). */
  #deleteSessionsWhere(matches: (session: SessionRecord) => boolean): number {
    let deleted = 0;
    for (const session of [...this.#sessions.values()]) {
      if (!matches(session)) continue;
      this.#unindex(session);
      this.#sessions.delete(session.id);
      deleted++;
    }
    return deleted;
  }

  async useOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    const recorded = this.#usedIds.get(id);
    if (recorded !== undefined && recorded > now) return false;
    this.#usedIds.set(id, expiresAt);
    return true;
  }

  async putNativeLogin(
    login: NativeLoginRecord,
    maxPerClient: number,
    now: number,
  ): Promise<"stored" | "duplicate" | "limit"> {
    const existing = this.#nativeLogins.get(login.codeChallenge);
    if (existing && existing.expiresAt > now) return "duplicate";
    let pending = 0;
    for (const other of this.#nativeLogins.values()) {
      if (other.client === login.client && other.expiresAt > now) pending++;
    }
    if (pending >= maxPerClient) return "limit";
    this.#nativeLogins.set(login.codeChallenge, structuredClone(login));
    return "stored";
  }

  async takeNativeLogin(
    codeChallenge: string,
    now: number,
  ): Promise<NativeLoginRecord | undefined> {
    const login = this.#nativeLogins.get(codeChallenge);
    if (!login) return undefined;
    this.#nativeLogins.delete(codeChallenge);
    return login.expiresAt > now ? login : undefined;
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
    for (const [challenge, login] of this.#nativeLogins) {
      if (login.expiresAt <= now) this.#nativeLogins.delete(challenge);
    }
    for (const [id, expiresAt] of this.#usedIds) {
      if (expiresAt <= now) this.#usedIds.delete(id);
    }
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
    for (const retired of session.retiredHashes) this.#byRetiredHash.set(retired, session.id);
  }

  #unindex(session: SessionRecord): void {
    if (this.#byRefreshHash.get(session.refreshHash) === session.id) {
      this.#byRefreshHash.delete(session.refreshHash);
    }
    for (const retired of session.retiredHashes) {
      if (this.#byRetiredHash.get(retired) === session.id) this.#byRetiredHash.delete(retired);
    }
  }
}
