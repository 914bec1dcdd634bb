import type { Adapter, AdapterPayload } from "oidc-provider";

interface Entry {
  payload: AdapterPayload;
  /** epoch milliseconds; Infinity when the model has no expiry */
  expiresAt: number;
}

/** Models whose instances are linked to a Grant and removed by revokeByGrantId. */
const GRANT_BOUND = new Set([
  "AccessToken",
  "AuthorizationCode",
  "RefreshToken",
  "DeviceCode",
  "BackchannelAuthenticationRequest",
]);

const SWEEP_EVERY = 200;

/**
 * In-memory storage for one dev IdP instance (oidc-provider's own memory adapter is global to the
 * process and announces itself on the console; this one is per instance and quiet).
 */
export class MemoryStore {
  readonly #entries = new Map<string, Entry>();
  /** secondary index key (e.g. "uid:…", "userCode:…") -> primary key */
  readonly #index = new Map<string, string>();
  /** grantId -> primary keys */
  readonly #grants = new Map<string, Set<string>>();
  #writes = 0;

  constructor(private readonly clockToleranceSec = 0) {}

  adapterFor(model: string): Adapter {
    return new MemoryAdapter(model, this);
  }

  get(key: string): AdapterPayload | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  getByIndex(indexKey: string): AdapterPayload | undefined {
    const key = this.#index.get(indexKey);
    return key === undefined ? undefined : this.get(key);
  }

  set(model: string, key: string, payload: AdapterPayload, expiresInSec?: number): void {
    this.delete(key);
    const expiresAt =
      typeof expiresInSec === "number"
        ? Date.now() + (expiresInSec + this.clockToleranceSec) * 1000
        : Number.POSITIVE_INFINITY;
    this.#entries.set(key, { payload, expiresAt });
    if (model === "Session" && typeof payload.uid === "string") {
      this.#index.set(`uid:${payload.uid}`, key);
    }
    if (typeof payload.userCode === "string") {
      this.#index.set(`userCode:${payload.userCode}`, key);
    }
    if (GRANT_BOUND.has(model) && typeof payload.grantId === "string") {
      let members = this.#grants.get(payload.grantId);
      if (!members) {
        members = new Set();
        this.#grants.set(payload.grantId, members);
      }
      members.add(key);
    }
    if (++this.#writes % SWEEP_EVERY === 0) this.sweep();
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const { uid, userCode, grantId } = entry.payload;
    if (typeof uid === "string" && this.#index.get(`uid:${uid}`) === key) {
      this.#index.delete(`uid:${uid}`);
    }
    if (typeof userCode === "string" && this.#index.get(`userCode:${userCode}`) === key) {
      this.#index.delete(`userCode:${userCode}`);
    }
    if (typeof grantId === "string") {
      const members = this.#grants.get(grantId);
      members?.delete(key);
      if (members?.size === 0) this.#grants.delete(grantId);
    }
  }

  revokeGrant(grantId: string): void {
    const members = this.#grants.get(grantId);
    if (!members) return;
    for (const key of [...members]) this.delete(key);
    this.#grants.delete(grantId);
  }

  /** Drops expired entries. */
  sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#index.clear();
    this.#grants.clear();
  }
}

class MemoryAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: MemoryStore,
  ) {}

  #key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, this.#key(id), payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.get(this.#key(id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.store.getByIndex(`uid:${uid}`);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.store.getByIndex(`userCode:${userCode}`);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.#key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.revokeGrant(grantId);
  }
}
