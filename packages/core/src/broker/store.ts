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
  /**
   * Rotation in one atomic step: inserts `key` as {@link insertSigningKey} does and, if it
   * was inserted, retires every older key not retired yet (`retiredAt`), so that no reader
   * ever sees two active keys or none. False (nothing changes) when the generation or kid
   * exists.
   */
  rotateSigningKey(key: SigningKeyRecord, retiredAt: number): Promise<boolean>;
  /** Sets `retiredAt` on every key with `generation < beforeGeneration` whose `retiredAt` is null. */
  retireSigningKeys(beforeGeneration: number, retiredAt: number): Promise<void>;
  /** Deletes keys retired before `retiredBefore`; returns how many. */
  deleteSigningKeys(retiredBefore: number): Promise<number>;

  /** Stores a new session. */
  createSession(session: SessionRecord): Promise<void>;
  /**
   * The session whose current `refreshHash` equals `hash`, or which replaced a credential
   * of that hash at any time (`retiredHashes`): reuse of any retired credential must find
   * its session (family) to revoke it.
   */
  findSessionByRefreshHash(hash: string): Promise<SessionRecord | undefined>;
  /** The session with this id. */
  getSession(id: string): Promise<SessionRecord | undefined>;
  /**
   * Applies `changes` only if the session's current `refreshHash` equals `expectedHash`,
   * atomically (one conditional statement). True when the row was changed.
   */
  updateSession(id: string, expectedHash: string, changes: SessionChanges): Promise<boolean>;
  /**
   * Takes the lease on the session's next rotation: sets `rotationLease`/`rotationLeaseUntil`
   * only if `refreshHash` still equals `currentHash` and no unexpired lease is held
   * (`rotationLeaseUntil` null or `<= now`), atomically. True when this caller holds it.
   */
  claimRotation(
    id: string,
    currentHash: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<boolean>;
  /** Gives a lease back (a rotation that failed): clears it if `rotationLease` still equals `lease`. */
  releaseRotation(id: string, lease: string): Promise<void>;
  /**
   * The rotation itself, one conditional statement: only if `refreshHash` still equals
   * `currentHash` and `rotationLease` equals `lease`, sets `refreshHash` to
   * `outcome.refreshHash`, `previousHash` to `currentHash`, appends `currentHash` to
   * `retiredHashes`, clears the lease and writes the rest of `outcome`. True when the row
   * was changed.
   */
  completeRotation(
    id: string,
    currentHash: string,
    lease: string,
    outcome: RotationOutcome,
  ): Promise<boolean>;
  /** Removes a session (no error if absent). */
  deleteSession(id: string): Promise<void>;
  /** Removes every session of a subject (all of a user's logins); returns how many. */
  deleteSessionsOfSubject(subject: string): Promise<number>;
  /**
   * Removes every session of one login session at the IdP (`idpSessionId`, the `sid` of the
   * login's ID token): what an IdP's back-channel logout names. Returns how many.
   */
  deleteSessionsOfIdpSession(idpSessionId: string): Promise<number>;

  /**
   * Records a single-use identifier (a back-channel logout token's `jti`) until `expiresAt`.
   * True the first time; false (nothing changes) while an unexpired record of it exists, on
   * any instance sharing the store. Atomic: of concurrent calls with one id, one wins.
   * Ids are at most 255 characters (the core passes hashes).
   */
  useOnce(id: string, expiresAt: number, now: number): Promise<boolean>;

  /**
   * Remembers a native login (a client that keeps its own PKCE verifier) until its code
   * exchange, which may reach any instance. Answers `"duplicate"` (nothing stored) if a
   * pending login with the same challenge exists, `"limit"` (nothing stored) if the same
   * client already has `maxPerClient` unexpired pending logins; logins of other clients
   * are never displaced.
   */
  putNativeLogin(
    login: NativeLoginRecord,
    maxPerClient: number,
    now: number,
  ): Promise<"stored" | "duplicate" | "limit">;
  /** Takes (deletes and answers, single use) the unexpired native login of this challenge. */
  takeNativeLogin(codeChallenge: string, now: number): Promise<NativeLoginRecord | undefined>;

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
   * Deletes sessions with `expiresAt <= now`, native logins and single-use ids with
   * `expiresAt <= now`, and rate-limit buckets that are full again by `now`; returns how
   * many sessions.
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
  /** SHA-256 (hex) of the credential the last rotation replaced (its answer may be shared). */
  previousHash: string | null;
  /**
   * SHA-256 (hex) of every credential this session replaced, oldest first (`previousHash`
   * is the last): any of them presented again revokes the session.
   */
  retiredHashes: string[];
  /** When the last rotation was completed (its answer stored); the reuse grace counts from here. */
  rotatedAt: number | null;
  /** The answer of the last rotation, sealed with a key only the previous credential yields. */
  rotationAnswer: string | null;
  /** Who is rotating right now (a random id), or null. */
  rotationLease: string | null;
  /** Until when that lease holds (an instance that died mid-rotation loses it then). */
  rotationLeaseUntil: number | null;
  /** The IdP refresh token, sealed when a secret is configured; null if there is none. */
  idpRefreshToken: string | null;
  /**
   * The IdP access token, sealed like the refresh token, kept only for sessions without an
   * IdP refresh token: the session is revalidated with it at the IdP's userinfo.
   */
  idpAccessToken: string | null;
  /** When the IdP's access token expires (null: unknown); see `idpAccessToken`. */
  idpAccessExpiresAt: number | null;
  /**
   * The IdP's id of the login session (`sid` of the login's ID token), null when the IdP
   * sent none: a back-channel logout that names it ends this session.
   */
  idpSessionId: string | null;
  /** The identity claims (JSON object). */
  claims: string;
  scope: string;
  createdAt: number;
  expiresAt: number;
}

export type SessionChanges = Partial<Omit<SessionRecord, "id" | "createdAt" | "retiredHashes">>;

/** What a completed rotation writes besides the credential chain and the lease. */
export interface RotationOutcome {
  /** SHA-256 (hex) of the new credential. */
  refreshHash: string;
  rotatedAt: number;
  rotationAnswer: string;
  idpRefreshToken: string | null;
  idpAccessToken: string | null;
  idpAccessExpiresAt: number | null;
  claims: string;
  scope: string;
  /** The session's new expiry (idle limit moved on, absolute maximum kept). */
  expiresAt: number;
}

/** A native login waiting for its code exchange (the client keeps the PKCE verifier). */
export interface NativeLoginRecord {
  /** The client's S256 code challenge (unique among pending logins). */
  codeChallenge: string;
  nonce: string;
  redirectUri: string;
  /** Whom the login counts against for the per-client bound (the client IP, or ""). */
  client: string;
  expiresAt: number;
}

/** A trusted peer's JWKS as last fetched. */
export interface PeerJwksRecord {
  issuer: string;
  jwks: JSONWebKeySet;
  fetchedAt: number;
}
