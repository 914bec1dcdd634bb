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
import type {
  MySqlDatabase,
  MySqlQueryResultHKT,
  PreparedQueryHKTBase,
} from "drizzle-orm/mysql-core";
import {
  nativeLogins,
  peerJwks,
  rateLimits,
  retiredHashes,
  sessions,
  signingKeys,
  usedIds,
} from "./schema.js";

/**
 * A Drizzle MySQL database whose statements answer mysql2's `[ResultSetHeader, fields]`
 * (`drizzle-orm/mysql2`). MySQL has no RETURNING: changes are counted by `affectedRows`,
 * which mysql2 reports as rows *matched* (its default CLIENT_FOUND_ROWS flag), so an UPDATE
 * that writes the values a row already has still counts.
 */
export type MysqlBrokerDatabase = MySqlDatabase<
  MySqlQueryResultHKT,
  PreparedQueryHKTBase,
  Record<string, unknown>
>;

export interface MysqlBrokerStoreOptions {
  /** Called by `close()` (ends the mysql2 pool). */
  close?: () => Promise<void>;
  /** Holds a named server lock while `setup()` migrates; see open-mysql.ts. */
  withSetupLock: <T>(run: () => Promise<T>) => Promise<T>;
  /** Applies the shipped migrations (drizzle-orm's mysql2 migrator). */
  migrate: () => Promise<void>;
  /** Where the data lives, for messages (a URL without its password). */
  location?: string;
}

/** The longest single-use id kept, in characters (`oidc_auth_used_ids.id` holds 1020 bytes). */
const USED_ID_MAX = 255;

/** Rows an INSERT / UPDATE / DELETE changed (matched, for an UPDATE). */
function affected(result: unknown): number {
  const header = Array.isArray(result) ? result[0] : result;
  const rows = (header as { affectedRows?: unknown } | undefined)?.affectedRows;
  if (typeof rows !== "number") throw new Error("the MySQL driver answered no affectedRows");
  return rows;
}

/** Whether `err` (or its cause: Drizzle wraps driver errors) is MySQL's duplicate key error. */
function isDuplicateKey(err: unknown): boolean {
  for (let e = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { errno?: unknown }).errno === 1062) return true;
  }
  return false;
}

/**
 * The {@link BrokerStore} on MySQL / MariaDB through Drizzle and mysql2. Conditional changes
 * are single UPDATE statements (InnoDB row locks serialise them); changes of several tables
 * run in one transaction. `setup()` holds `GET_LOCK` while it migrates, so several processes
 * may start together on an empty database (MySQL's DDL is not transactional).
 */
export class MysqlBrokerStore implements BrokerStore {
  readonly #db: MysqlBrokerDatabase;
  readonly #options: MysqlBrokerStoreOptions;
  #settingUp: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  readonly location: string | undefined;

  constructor(db: MysqlBrokerDatabase, options: MysqlBrokerStoreOptions) {
    this.#db = db;
    this.#options = options;
    this.location = options.location;
  }

  setup(): Promise<void> {
    this.#settingUp ??= this.#options
      .withSetupLock(() => this.#options.migrate())
      .finally(() => {
        this.#settingUp = undefined;
      });
    return this.#settingUp;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#options.close?.();
    })();
    return this.#closed;
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return this.#db.select().from(signingKeys);
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<boolean> {
    return insertKey(this.#db, key);
  }

  async rotateSigningKey(key: SigningKeyRecord, retiredAt: number): Promise<boolean> {
    // One transaction: readers see the old key active, or the new one active and the old
    // retired. A duplicate key rolls back only its own statement; nothing else was done.
    return this.#db.transaction(async (tx) => {
      if (!(await insertKey(tx, key))) return false;
      await tx
        .update(signingKeys)
        .set({ retiredAt })
        .where(and(lt(signingKeys.generation, key.generation), isNull(signingKeys.retiredAt)));
      return true;
    });
  }

  async retireSigningKeys(beforeGeneration: number, retiredAt: number): Promise<void> {
    await this.#db
      .update(signingKeys)
      .set({ retiredAt })
      .where(and(lt(signingKeys.generation, beforeGeneration), isNull(signingKeys.retiredAt)));
  }

  async deleteSigningKeys(retiredBefore: number): Promise<number> {
    return affected(
      await this.#db
        .delete(signingKeys)
        .where(and(isNotNull(signingKeys.retiredAt), lt(signingKeys.retiredAt, retiredBefore))),
    );
  }

  async createSession(session: SessionRecord): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.insert(sessions).values({
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
      if (session.retiredHashes.length > 0) {
        await tx
          .insert(retiredHashes)
          .values(session.retiredHashes.map((hash) => ({ hash, sessionId: session.id })));
      }
    });
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
    // Nothing to change still answers whether the condition holds (a no-op assignment,
    // counted because mysql2 reports matched rows).
    if (Object.keys(set).length === 0) set.refreshHash = expectedHash;
    const result = await this.#db
      .update(sessions)
      .set(set)
      .where(and(eq(sessions.id, id), eq(sessions.refreshHash, expectedHash)));
    return affected(result) === 1;
  }

  async claimRotation(
    id: string,
    currentHash: string,
    lease: string,
    leaseUntil: number,
    now: number,
  ): Promise<boolean> {
    const result = await this.#db
      .update(sessions)
      .set({ rotationLease: lease, rotationLeaseUntil: leaseUntil })
      .where(
        and(
          eq(sessions.id, id),
          eq(sessions.refreshHash, currentHash),
          or(isNull(sessions.rotationLeaseUntil), lte(sessions.rotationLeaseUntil, now)),
        ),
      );
    return affected(result) === 1;
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
    // The rotation is one conditional UPDATE (the new credential, the chain, the answer and
    // the lease together); in the same transaction, and only when it changed the row (whose
    // lock this transaction now holds), the retired credential's index row.
    return this.#db.transaction(async (tx) => {
      const result = await tx
        .update(sessions)
        .set({
          refreshHash: outcome.refreshHash,
          previousHash: currentHash,
          retiredHashes: sql`json_array_append(${sessions.retiredHashes}, '$', ${currentHash})`,
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
        .where(
          and(
            eq(sessions.id, id),
            eq(sessions.refreshHash, currentHash),
            eq(sessions.rotationLease, lease),
          ),
        );
      if (affected(result) !== 1) return false;
      await tx.insert(retiredHashes).values({ hash: currentHash, sessionId: id });
      return true;
    });
  }

  async deleteSession(id: string): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await tx.delete(retiredHashes).where(eq(retiredHashes.sessionId, id));
      await tx.delete(sessions).where(eq(sessions.id, id));
    });
  }

  async deleteSessionsOfSubject(subject: string): Promise<number> {
    return this.#deleteSessionsWhere(eq(sessions.subject, subject));
  }

  async deleteSessionsOfIdpSession(idpSessionId: string): Promise<number> {
    return this.#deleteSessionsWhere(eq(sessions.idpSessionId, idpSessionId));
  }

  /** Deletes the sessions `condition` selects and their retired-credential rows, in one transaction. */
  #deleteSessionsWhere(condition: SQL): Promise<number> {
    return this.#db.transaction(async (tx) => {
      await tx
        .delete(retiredHashes)
        .where(
          inArray(
            retiredHashes.sessionId,
            tx.select({ id: sessions.id }).from(sessions).where(condition),
          ),
        );
      return affected(await tx.delete(sessions).where(condition));
    });
  }

  /**
   * Inserts the id; if it is recorded, takes over the record only if that one expired (a
   * conditional UPDATE: the row lock lets one of concurrent callers match it, the rest find
   * it unexpired). MySQL has no RETURNING, and with mysql2's found-rows counting an upsert
   * answers 1 both for an insert and for a row left alone, hence two statements. If a purge
   * deletes the expired record between them, the UPDATE matches nothing: insert once more.
   * An id longer than 255 characters is refused, never truncated (the core passes no longer
   * one); any of 255 fits the column.
   */
  async useOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    if (id.length > USED_ID_MAX) {
      throw new RangeError(`a single-use id is limited to ${USED_ID_MAX} characters`);
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.#db.insert(usedIds).values({ id, expiresAt });
        return true;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      const replaced = await this.#db
        .update(usedIds)
        .set({ expiresAt })
        .where(and(eq(usedIds.id, id), lte(usedIds.expiresAt, now)));
      if (affected(replaced) === 1) return true;
    }
    return false;
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
    try {
      await this.#db.insert(nativeLogins).values({ ...login });
      return "stored";
    } catch (err) {
      if (isDuplicateKey(err)) return "duplicate";
      throw err;
    }
  }

  async takeNativeLogin(
    codeChallenge: string,
    now: number,
  ): Promise<NativeLoginRecord | undefined> {
    const [login] = await this.#db
      .select()
      .from(nativeLogins)
      .where(eq(nativeLogins.codeChallenge, codeChallenge));
    if (!login) return undefined;
    // Only the caller whose DELETE removed the row takes it: a login is taken once.
    const deleted = affected(
      await this.#db
        .delete(nativeLogins)
        .where(
          and(
            eq(nativeLogins.codeChallenge, codeChallenge),
            eq(nativeLogins.nonce, login.nonce),
            eq(nativeLogins.expiresAt, login.expiresAt),
          ),
        ),
    );
    return deleted === 1 && login.expiresAt > now ? login : undefined;
  }

  async getPeerJwks(issuer: string): Promise<PeerJwksRecord | undefined> {
    const rows = await this.#db.select().from(peerJwks).where(eq(peerJwks.issuer, issuer)).limit(1);
    return rows[0];
  }

  async putPeerJwks(record: PeerJwksRecord): Promise<void> {
    await this.#db
      .insert(peerJwks)
      .values({ issuer: record.issuer, jwks: record.jwks, fetchedAt: record.fetchedAt })
      .onDuplicateKeyUpdate({ set: { jwks: record.jwks, fetchedAt: record.fetchedAt } });
  }

  async takeRateLimitToken(key: string, limit: TokenBucketLimit, now: number): Promise<TokenTaken> {
    const capacity = sql`cast(${limit.capacity} as double)`;
    const refill = sql`cast(${limit.refillPerSec} as double)`;
    const at = sql`cast(${now} as double)`;
    const t = {
      tokens: sql.identifier("tokens"),
      updatedAt: sql.identifier("updated_at"),
      fullAt: sql.identifier("full_at"),
      allowed: sql.identifier("allowed"),
    };
    const refilled = sql`least(${capacity}, ${t.tokens} + greatest(0, ${at} - ${t.updatedAt}) * ${refill})`;
    const left = sql`case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end`;
    const updatedAt = sql`greatest(${t.updatedAt}, ${at})`;
    // MySQL evaluates these assignments left to right, each seeing the ones before (MariaDB
    // may evaluate them all on the old row): each reads only columns assigned after it, so
    // both orders give the same row. The row lock, held to the end of the transaction, makes
    // concurrent takes queue, and the SELECT reads this take's own outcome.
    return this.#db.transaction(async (tx) => {
      await tx.execute(
        sql`insert into ${rateLimits} (${sql.identifier("key")}, ${t.tokens}, ${t.updatedAt}, ${t.fullAt}, ${t.allowed})
          values (${key}, ${limit.capacity - 1}, ${now}, ${now + 1 / limit.refillPerSec}, true)
          on duplicate key update
            ${t.allowed} = ${refilled} >= 1,
            ${t.fullAt} = ${updatedAt} + (${capacity} - (${left})) / ${refill},
            ${t.tokens} = ${left},
            ${t.updatedAt} = ${updatedAt}`,
      );
      const [row] = await tx
        .select({ allowed: rateLimits.allowed, tokens: rateLimits.tokens })
        .from(rateLimits)
        .where(eq(rateLimits.key, key));
      if (!row) throw new Error("the rate-limit upsert left no row");
      return row;
    });
  }

  async purgeExpired(now: number): Promise<number> {
    await this.#db.delete(rateLimits).where(lte(rateLimits.fullAt, now));
    await this.#db.delete(nativeLogins).where(lte(nativeLogins.expiresAt, now));
    await this.#db.delete(usedIds).where(lte(usedIds.expiresAt, now));
    return this.#db.transaction(async (tx) => {
      await tx
        .delete(retiredHashes)
        .where(
          inArray(
            retiredHashes.sessionId,
            tx.select({ id: sessions.id }).from(sessions).where(lte(sessions.expiresAt, now)),
          ),
        );
      return affected(await tx.delete(sessions).where(lte(sessions.expiresAt, now)));
    });
  }
}

/** Inserts a signing key; false when its kid or generation exists (nothing changes). */
async function insertKey(
  db: Pick<MysqlBrokerDatabase, "insert">,
  key: SigningKeyRecord,
): Promise<boolean> {
  try {
    await db.insert(signingKeys).values({
      kid: key.kid,
      generation: key.generation,
      alg: key.alg,
      publicJwk: key.publicJwk,
      privateKey: key.privateKey,
      createdAt: key.createdAt,
      retiredAt: key.retiredAt,
    });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
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
