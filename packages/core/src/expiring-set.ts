/**
 * A bounded map whose entries expire. Used for single-use markers and pending logins:
 * growth is bounded (the oldest entries go first) and expired entries are never returned.
 */
export class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Adds an entry unless the key is present and live; returns false if it was. */
  add(key: string, value: V, expiresAt: number, now = Date.now()): boolean {
    const existing = this.#entries.get(key);
    if (existing && existing.expiresAt > now) return false;
    this.#entries.delete(key);
    this.#purge(now);
    this.#entries.set(key, { value, expiresAt });
    return true;
  }

  /** A live entry, left in place. */
  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    return entry && entry.expiresAt > now ? entry.value : undefined;
  }

  /** Sets an entry whether or not one is present. */
  set(key: string, value: V, expiresAt: number, now = Date.now()): void {
    this.#entries.delete(key);
    this.#purge(now);
    this.#entries.set(key, { value, expiresAt });
  }

  /** Removes and returns a live entry. */
  take(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    return entry.expiresAt > now ? entry.value : undefined;
  }

  #purge(now: number): void {
    for (const [key, entry] of this.#entries) {
      // Insertion order is close to expiry order: stop at the first live entry once under the bound.
      if (entry.expiresAt <= now || this.#entries.size >= this.#maxEntries) {
        this.#entries.delete(key);
      } else {
        break;
      }
    }
  }
}
