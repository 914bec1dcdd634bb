import type { JSONWebKeySet, JWK } from "jose";
import type { TokenBucketLimit, TokenTaken } from "../token-bucket.js";

/**
 * The broker's persistent state behind one small async interface: signing keys, sessions,
 * peer JWKS, expiry purge. Implementations: {@link MemoryBrokerStore} (tests, one process,
 * edge) and the Drizzle store of `@oidc-auth/drizzle` (PGlite, Postgres). All times are
 * unix seconds. Implementations never interpret the opaque strings they keep (sealed
 * values, hashes, JSON).
 */
export interface BrokerStore {
  /**
   * Where the data lives, for messages to operators: a folder, or a URL without its
   * password. Optional; `ready()` names it when the store cannot be used.
   */
  readonly location?: string | undefined;
  /** Creates tables / applies migrations. Idempotent and safe to run from several processes at once. */
  setup(): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;

  /** Every stored signing key, any order. */
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /**
   * Inserts a key unless one with the same `generation` exists (then nothing changes and
   * the answer is false). This is what makes N instances starting together agree on one
   * key: they all try generation 1, one wins, the rest read the winner's key.
   */
  insertSigningKey(key: SigningKeyRecord): Promise<boolean>;
  /** Sets `retiredAt` on every key with `generation < beforeGeneration` whose `retiredAt` is null. */
  retireSigningKeys(beforeGeneration: number, retiredAt: number): Promise<void>;
  /** Deletes keys retired before `retiredBefore`; returns how many. */
  deleteSigningKeys(retiredBefore: number): Promise<number>;

  /** Stores a new session. */
  createSession(session: SessionRecord): Promise<void>;
  /** The session whose `refreshHash` or `previousHash` equals `hash`. */
  findSessionByRefreshHash(hash: string): Promise<SessionRecord | undefined>;
  /** The session with this id. */
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * Applies `changes` only if the session's current `refreshHash` equals `expectedHash`,
   * atomically (one conditional statement). True when the row was changed.
   */
  updateSession(id: string, expectedHash: string, changes: SessionChanges): Promise<boolean>;
  /** Removes a session (no error if absent). */
  deleteSession(id: string): Promise<void>;

  /** The persisted JWKS of a trusted peer. */
  getPeerJwks(issuer: string): Promise<PeerJwksRecord | undefined>;
  /** Inserts or replaces the persisted JWKS of a peer. */
  putPeerJwks(record: PeerJwksRecord): Promise<void>;

  /**
   * Rate limits shared by every instance on the store: refills the token bucket `key` up to
   * `now` (unix seconds with fractions; a missing bucket is full, a clock behind the
   * bucket's adds nothing) and takes one token if it holds one, in one atomic step, so
   * concurrent takes never hand out more tokens than the bucket has. Answers whether a
   * token was taken and the tokens left. Optional: a store without it leaves the limits
   * per instance.
   */
  takeRateLimitToken?(key: string, limit: TokenBucketLimit, now: number): Promise<TokenTaken>;

  /**
   * Deletes sessions with `expiresAt <= now`, and rate-limit buckets that are full again by
   * `now`; returns how many sessions.
   */
  purgeExpired(now: number): Promise<number>;
}

/** A broker signing key. The highest `generation` is the active one. */
export interface SigningKeyRecord {
  kid: string;
  /** Unique; 1 for the first key, +1 per rotation. */
  generation: number;
  alg: string;
  /** Public JWK (with kid, alg, use). */
  publicJwk: JWK;
  /** Private JWK as JSON, or sealed (AEAD) when a secret is configured. */
  privateKey: string;
  createdAt: number;
  /** When a newer key took over; null for the active key. */
  retiredAt: number | null;
}

/** A broker session: one login at the IdP, and the chain of refresh credentials issued for it. */
export interface SessionRecord {
  id: string;
  /** The subject of the broker tokens (the IdP's `sub`). */
  subject: string;
  /** SHA-256 (hex) of the current broker refresh credential. */
  refreshHash: string;
  /** SHA-256 (hex) of the credential it replaced (reuse detection, racing refreshes). */
  previousHash: string | null;
  /** When the last rotation started. */
  rotatedAt: number | null;
  /** The answer of the last rotation, sealed with a key only the previous credential yields. */
  rotationAnswer: string | null;
  /** The IdP refresh token, sealed when a secret is configured; null if there is none. */
  idpRefreshToken: string | null;
  /** The identity claims (JSON object). */
  claims: string;
  scope: string;
  createdAt: number;
  expiresAt: number;
}

export type SessionChanges = Partial<Omit<SessionRecord, "id" | "createdAt">>;

/** A trusted peer's JWKS as last fetched. */
export interface PeerJwksRecord {
  issuer: string;
  jwks: JSONWebKeySet;
  fetchedAt: number;
}
