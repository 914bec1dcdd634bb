import type {
  BrokerStore,
  NativeLoginRecord,
  PeerJwksRecord,
  RotationOutcome,
  SessionChanges,
  SessionRecord,
  SigningKeyRecord,
  TokenBucketLimit,
  TokenTaken,
} from "@oidc-auth/core";
import {
  and,
  count,
  desc,
  eq,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import { type BaseSQLiteDatabase, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { SQLITE_MIGRATIONS } from "./migrations.js";
import {
  nativeLogins,
  peerJwks,
  rateLimits,
  retiredHashes,
  sessions,
  signingKeys,
  usedIds,
} from "./schema.js";

/** Where `setup()` records the migrations it applied (its own table: apps may run Drizzle too). */
const journal = "__oidc_auth_migrations";
const migrationsJournal = sqliteTable(journal, {
  tag: text("tag").primaryKey(),
  appliedAt: integer("applied_at").notNull(),
});

/**
 * An asynchronous Drizzle SQLite database that runs a batch of statements in one transaction:
 * `drizzle-orm/libsql` and `drizzle-orm/d1` both are. The store needs nothing else, so one
 * implementation serves a local file and Cloudflare D1 (where interactive transactions do
 * not exist: every multi-statement change here is one batch).
 */
export type SqliteBrokerDatabase = BaseSQLiteDatabase<"async", unknown, Record<string, unknown>> & {
  // biome-ignore lint/suspicious/noExplicitAny: both drivers' batch take their own builder tuples
  batch(queries: readonly [any, ...any[]]): Promise<unknown[]>;
};

export interface SqliteBrokerStoreOptions {
  /** Called by `close()` (e.g. closing the libSQL client). D1 needs none. */
  close?: () => void | Promise<void>;
  /** Where the data lives, for messages. */
  location?: string;
}

/**
 * The {@link BrokerStore} on SQLite through Drizzle (libSQL for a local file, D1 on
 * Cloudflare). Every query is built and parameterised by Drizzle; conditional changes are
 * single statements or one batch (one transaction), as on Postgres. The migrations are
 * embedded (./migrations.ts, generated from ../../migrations-sqlite) so that a worker needs
 * no file system.
 */
export class SqliteBrokerStore implements BrokerStore {
  readonly #db: SqliteBrokerDatabase;
  readonly #close: (() => void | Promise<void>) | undefined;
  #settingUp: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  readonly location: string | undefined;

  constructor(db: SqliteBrokerDatabase, options: SqliteBrokerStoreOptions = {}) {
    this.#db = db;
    this.#close = options.close;
    this.location = options.location;
  }

  /** Applies the embedded migrations (idempotent; concurrent calls share one run). */
  setup(): Promise<void> {
    this.#settingUp ??= this.#migrate().finally(() => {
      this.#settingUp = undefined;
    });
    return this.#settingUp;
  }

  async #migrate(): Promise<void> {
    const db = this.#db;
    await db.run(
      sql.raw(
        `create table if not exists "${journal}" ("tag" text primary key not null, "applied_at" integer not null)`,
      ),
    );
    for (const migration of SQLITE_MIGRATIONS) {
      if (await this.#applied(migration.tag)) continue;
      // One batch is one transaction: the migration and its journal row land together. A
      // second process (or worker) migrating at once fails on the journal's primary key or
      // on an existing table, and its batch rolls back; it then finds the migration applied.
      try {
        const statements = migration.statements.map((statement) => db.run(sql.raw(statement)));
        // A builder, not db.run(sql): drizzle's D1 batch binds parameters only of builders.
        const record = db
          .insert(migrationsJournal)
          .values({ tag: migration.tag, appliedAt: Math.floor(Date.now() / 1000) });
        await db.batch([...statements, record] as unknown as [typeof record]);
      } catch (err) {
        if (!(await this.#applied(migration.tag))) throw err;
      }
    }
  }

  async #applied(tag: string): Promise<boolean> {
    const rows = await this.#db
      .select({ tag: migrationsJournal.tag })
      .from(migrationsJournal)
      .where(eq(migrationsJournal.tag, tag));
    return rows.length === 1;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#close?.();
    })();
    return this.#closed;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#db.select().from(signingKeys);
  }

  #insertKey(key: SigningKeyRecord) {
    // No conflict target: a clash on the generation or on the kid leaves the table unchanged.
    return this.#db
      .insert(signingKeys)
      .values({
        kid: key.kid,
        generation: key.generation,
        alg: key.alg,
        publicJwk: key.publicJwk,
        privateKey: key.privateKey,
        createdAt: key.createdAt,
        retiredAt: key.retiredAt,
      })
      .onConflictDoNothing()
      .returning({ kid: signingKeys.kid });
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    const inserted = await this.#insertKey(key);
    return inserted.length === 1;
  }

  async rotateSigningKey(key: SigningKeyRecord, retiredAt: number): Promise<boolean> {
    // One batch: readers see the old key active, or the new one active and the old retired.
    // The retirement only happens when this key (kid and generation) is the one stored.
    const [inserted] = (await this.#db.batch([
      this.#insertKey(key),
      this.#db
        .update(signingKeys)
        .set({ retiredAt })
        .where(
          and(
            lt(signingKeys.generation, key.generation),
            isNull(signingKeys.retiredAt),
            sql`exists (select 1 from ${signingKeys} where ${signingKeys.kid} = ${key.kid} and ${signingKeys.generation} = ${key.generation})`,
          ),
        ),
    ])) as [{ kid: string }[], unknown];
    return inserted.length === 1;
  }

  async retireSigningKeys(beforeGeneration: number, retiredAt: number): Promise<void> {
    await this.#db
      .update(signingKeys)
      .set({ retiredAt })
      .where(and(lt(signingKeys.generation, beforeGeneration), isNull(signingKeys.retiredAt)));
  }

  async deleteSigningKeys(retiredBefore: number): Promise<number> {
    const deleted = await this.#db
      .delete(signingKeys)
      .where(and(isNotNull(signingKeys.retiredAt), lt(signingKeys.retiredAt, retiredBefore)))
      .returning({ kid: signingKeys.kid });
    return deleted.length;
  }

  async createSession(session: SessionRecord): Promise<void> {
    const insert = this.#db.insert(sessions).values({
      id: session.id,
      subject: session.subject,
      refreshHash: session.refreshHash,
      previousHash: session.previousHash,
      retiredHashes: session.retiredHashes,
      rotatedAt: session.rotatedAt,
      rotationAnswer: session.rotationAnswer,
      rotationLease: session.rotationLease,
      rotationLeaseUntil: session.rotationLeaseUntil,
      idpRefreshToken: session.idpRefreshToken,
      idpAccessToken: session.idpAccessToken,
      idpAccessExpiresAt: session.idpAccessExpiresAt,
      idpSessionId: session.idpSessionId,
      claims: session.claims,
      scope: session.scope,
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
    });
    if (session.retiredHashes.length === 0) {
      await insert;
      return;
    }
    await this.#db.batch([
      insert,
      this.#db
        .insert(retiredHashes)
        .values(session.retiredHashes.map((hash) => ({ hash, sessionId: session.id }))),
    ]);
  }

  async findSessionByRefreshHash(hash: string): Promise<SessionRecord | undefined> {
    const rows = await this.#db
      .select()
      .from(sessions)
      .where(
        or(
          eq(sessions.refreshHash, hash),
          inArray(
            sessions.id,
            this.#db
              .select({ id: retiredHashes.sessionId })
              .from(retiredHashes)
              .where(eq(retiredHashes.hash, hash)),
          ),
        ),
      )
      // A current credential wins over a replaced one.
      .orderBy(desc(sql`${sessions.refreshHash} = ${hash}`))
      .limit(1);
    return rows[0];
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const rows = await this.#db.select().from(sessions).where(eq(sessions.id, id)).limit(1);
    return rows[0];
  }

  async updateSession(id: string, expectedHash: string, changes: SessionChanges): Promise<boolean> {
    const set = sessionChanges(changes);
    // Nothing to change still answers whether the condition holds (a no-op assignment).
    if (Object.keys(set).length === 0) set.refreshHash = expectedHash;
    const updated = await this.#db
      .update(sessions)
      .set(set)
      .where(and(eq(sessions.id, id), eq(sessions.refreshHash, expectedHash)))
      .returning({ id: sessions.id });
    return updated.length === 1;
  }

  async claimRotation(
    id: string,
    currentHash: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<boolean> {
    const claimed = await this.#db
      .update(sessions)
      .set({ rotationLease: lease, rotationLeaseUntil: leaseUntil })
      .where(
        and(
          eq(sessions.id, id),
          eq(sessions.refreshHash, currentHash),
          or(isNull(sessions.rotationLeaseUntil), lte(sessions.rotationLeaseUntil, now)),
        ),
      )
      .returning({ id: sessions.id });
    return claimed.length === 1;
  }

  async releaseRotation(id: string, lease: string): Promise<void> {
    await this.#db
      .update(sessions)
      .set({ rotationLease: null, rotationLeaseUntil: null })
      .where(and(eq(sessions.id, id), eq(sessions.rotationLease, lease)));
  }

  async completeRotation(
    id: string,
    currentHash: string,
    lease: string,
    outcome: RotationOutcome,
  ): Promise<boolean> {
    const holds = and(
      eq(sessions.id, id),
      eq(sessions.refreshHash, currentHash),
      eq(sessions.rotationLease, lease),
    );
    // One batch (one transaction): the retired credential's index row is written only while
    // the condition holds, then the one conditional UPDATE replaces the credential, appends
    // it to the chain, stores the answer and clears the lease — together or not at all.
    const [, rotated] = (await this.#db.batch([
      this.#db.insert(retiredHashes).select(
        this.#db
          .select({ hash: sql<string>`${currentHash}`.as("hash"), sessionId: sessions.id })
          .from(sessions)
          .where(holds),
      ),
      this.#db
        .update(sessions)
        .set({
          refreshHash: outcome.refreshHash,
          previousHash: currentHash,
          retiredHashes: sql`json_insert(${sessions.retiredHashes}, '$[#]', ${currentHash})`,
          rotatedAt: outcome.rotatedAt,
          rotationAnswer: outcome.rotationAnswer,
          rotationLease: null,
          rotationLeaseUntil: null,
          idpRefreshToken: outcome.idpRefreshToken,
          idpAccessToken: outcome.idpAccessToken,
          idpAccessExpiresAt: outcome.idpAccessExpiresAt,
          claims: outcome.claims,
          scope: outcome.scope,
          expiresAt: outcome.expiresAt,
        })
        .where(holds)
        .returning({ id: sessions.id }),
    ])) as [unknown, { id: string }[]];
    return rotated.length === 1;
  }

  async deleteSession(id: string): Promise<void> {
    await this.#db.batch([
      this.#db.delete(retiredHashes).where(eq(retiredHashes.sessionId, id)),
      this.#db.delete(sessions).where(eq(sessions.id, id)),
    ]);
  }

  async deleteSessionsOfSubject(subject: string): Promise<number> {
    return this.#deleteSessionsWhere(eq(sessions.subject, subject));
  }

  async deleteSessionsOfIdpSession(idpSessionId: string): Promise<number> {
    return this.#deleteSessionsWhere(eq(sessions.idpSessionId, idpSessionId));
  }

  /** Deletes the sessions `condition` selects and their retired-credential rows, in one batch. */
  async #deleteSessionsWhere(condition: SQL): Promise<number> {
    const [, deleted] = (await this.#db.batch([
      this.#db
        .delete(retiredHashes)
        .where(
          inArray(
            retiredHashes.sessionId,
            this.#db.select({ id: sessions.id }).from(sessions).where(condition),
          ),
        ),
      this.#db.delete(sessions).where(condition).returning({ id: sessions.id }),
    ])) as [unknown, { id: string }[]];
    return deleted.length;
  }

  /**
   * One statement (SQLite has one writer at a time): inserts the id, or takes over its record
   * only if that one expired; RETURNING answers a row only then. Ids of any length are kept
   * whole (the core passes at most 255 characters).
   */
  async useOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    const recorded = await this.#db
      .insert(usedIds)
      .values({ id, expiresAt })
      .onConflictDoUpdate({
        target: usedIds.id,
        set: { expiresAt },
        setWhere: lte(usedIds.expiresAt, now),
      })
      .returning({ id: usedIds.id });
    return recorded.length === 1;
  }

  async putNativeLogin(
    login: NativeLoginRecord,
    maxPerClient: number,
    now: number,
  ): Promise<"stored" | "duplicate" | "limit"> {
    // An expired login of the same challenge is no obstacle.
    await this.#db
      .delete(nativeLogins)
      .where(
        and(eq(nativeLogins.codeChallenge, login.codeChallenge), lte(nativeLogins.expiresAt, now)),
      );
    const [pending] = await this.#db
      .select({ n: count() })
      .from(nativeLogins)
      .where(and(eq(nativeLogins.client, login.client), gt(nativeLogins.expiresAt, now)));
    // Concurrent logins of one client may overshoot the bound by the few in flight at once.
    if ((pending?.n ?? 0) >= maxPerClient) return "limit";
    const inserted = await this.#db
      .insert(nativeLogins)
      .values({ ...login })
      .onConflictDoNothing()
      .returning({ codeChallenge: nativeLogins.codeChallenge });
    return inserted.length === 1 ? "stored" : "duplicate";
  }

  async takeNativeLogin(
    codeChallenge: string,
    now: number,
  ): Promise<NativeLoginRecord | undefined> {
    const taken = await this.#db
      .delete(nativeLogins)
      .where(eq(nativeLogins.codeChallenge, codeChallenge))
      .returning();
    const login = taken[0];
    return login && login.expiresAt > now ? login : undefined;
  }

  async getPeerJwks(issuer: string): Promise<PeerJwksRecord | undefined> {
    const rows = await this.#db.select().from(peerJwks).where(eq(peerJwks.issuer, issuer)).limit(1);
    return rows[0];
  }

  async putPeerJwks(record: PeerJwksRecord): Promise<void> {
    await this.#db
      .insert(peerJwks)
      .values({ issuer: record.issuer, jwks: record.jwks, fetchedAt: record.fetchedAt })
      .onConflictDoUpdate({
        target: peerJwks.issuer,
        set: { jwks: record.jwks, fetchedAt: record.fetchedAt },
      });
  }

  async takeRateLimitToken(key: string, limit: TokenBucketLimit, now: number): Promise<TokenTaken> {
    const capacity = sql`cast(${limit.capacity} as real)`;
    const refill = sql`cast(${limit.refillPerSec} as real)`;
    const at = sql`cast(${now} as real)`;
    // In SQLite's DO UPDATE every column on the right is the row as it was, and one writer
    // at a time: the refill up to now (never backwards), the take and the outcome are one
    // statement, so concurrent takes never hand out more than the bucket holds.
    const refilled = sql`min(${capacity}, ${rateLimits.tokens} + max(0, ${at} - ${rateLimits.updatedAt}) * ${refill})`;
    const left = sql`case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end`;
    const updatedAt = sql`max(${rateLimits.updatedAt}, ${at})`;
    const rows = await this.#db
      .insert(rateLimits)
      .values({
        key,
        tokens: limit.capacity - 1,
        updatedAt: now,
        fullAt: now + 1 / limit.refillPerSec,
        allowed: true,
      })
      .onConflictDoUpdate({
        target: rateLimits.key,
        set: {
          tokens: left,
          updatedAt,
          fullAt: sql`${updatedAt} + (${capacity} - (${left})) / ${refill}`,
          allowed: sql`${refilled} >= 1`,
        },
      })
      .returning({ allowed: rateLimits.allowed, tokens: rateLimits.tokens });
    const row = rows[0];
    if (!row) throw new Error("the rate-limit upsert returned no row");
    return row;
  }

  async purgeExpired(now: number): Promise<number> {
    const [, , , , deleted] = (await this.#db.batch([
      this.#db.delete(rateLimits).where(lte(rateLimits.fullAt, now)),
      this.#db.delete(nativeLogins).where(lte(nativeLogins.expiresAt, now)),
      this.#db.delete(usedIds).where(lte(usedIds.expiresAt, now)),
      this.#db
        .delete(retiredHashes)
        .where(
          inArray(
            retiredHashes.sessionId,
            this.#db.select({ id: sessions.id }).from(sessions).where(lte(sessions.expiresAt, now)),
          ),
        ),
      this.#db.delete(sessions).where(lte(sessions.expiresAt, now)).returning({ id: sessions.id }),
    ])) as [unknown, unknown, unknown, unknown, { id: string }[]];
    return deleted.length;
  }
}

/** The columns `changes` sets: only known, changeable fields that are not undefined. */
function sessionChanges(changes: SessionChanges): Partial<typeof sessions.$inferInsert> {
  const set: Partial<typeof sessions.$inferInsert> = {};
  if (changes.subject !== undefined) set.subject = changes.subject;
  if (changes.refreshHash !== undefined) set.refreshHash = changes.refreshHash;
  if (changes.previousHash !== undefined) set.previousHash = changes.previousHash;
  if (changes.rotatedAt !== undefined) set.rotatedAt = changes.rotatedAt;
  if (changes.rotationAnswer !== undefined) set.rotationAnswer = changes.rotationAnswer;
  if (changes.rotationLease !== undefined) set.rotationLease = changes.rotationLease;
  if (changes.rotationLeaseUntil !== undefined) set.rotationLeaseUntil = changes.rotationLeaseUntil;
  if (changes.idpRefreshToken !== undefined) set.idpRefreshToken = changes.idpRefreshToken;
  if (changes.idpAccessToken !== undefined) set.idpAccessToken = changes.idpAccessToken;
  if (changes.idpAccessExpiresAt !== undefined) set.idpAccessExpiresAt = changes.idpAccessExpiresAt;
  if (changes.idpSessionId !== undefined) set.idpSessionId = changes.idpSessionId;
  if (changes.claims !== undefined) set.claims = changes.claims;
  if (changes.scope !== undefined) set.scope = changes.scope;
  if (changes.expiresAt !== undefined) set.expiresAt = changes.expiresAt;
  return set;
}
