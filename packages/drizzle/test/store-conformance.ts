import type {
  BrokerStore,
  NativeLoginRecord,
  PeerJwksRecord,
  RotationOutcome,
  SessionRecord,
  SigningKeyRecord,
  TokenBucketLimit,
} from "@oidc-auth/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** A store to test and how to get rid of it. */
export interface StoreUnderTest {
  store: BrokerStore;
  cleanup(): Promise<void>;
}

const random = () => crypto.randomUUID();
/** A fake SHA-256 hex (the store never interprets it). */
const hash = () => (random() + random()).replaceAll("-", "").slice(0, 64);
/** Far in the future, so that only the purge test's sessions ever count as expired. */
const FUTURE = 4_000_000_000;

/** Characters from several scripts and planes, combining marks, quotes, backslashes. */
const UNICODE =
  "Zoë – 日本語 – Ελληνικά – עברית – 🙂🔐 – e\u0301 – \"quoted\" 'single' \\ back\\slash";
/** The longest IdP session id the core keeps (255 UTF-16 units), with unicode and quotes. */
const SID_255 = `${UNICODE}${"s".repeat(255 - UNICODE.length)}`;
/** About 8 KB of text. */
const LONG = `${"abcdefghijklmnopqrstuvwxyz0123456789-_".repeat(215)}${UNICODE}`;

function key(generation: number, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = `kid-${random()}`;
  return {
    kid,
    generation,
    alg: "RS256",
    publicJwk: {
      kty: "RSA",
      n: "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl",
      e: "AQAB",
      kid,
      alg: "RS256",
      use: "sig",
    },
    privateKey: `sealed.${random()}`,
    createdAt: 1_700_000_000 + generation,
    retiredAt: null,
    ...overrides,
  };
}

function session(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: random(),
    subject: `https://idp.example.com|${random()}`,
    refreshHash: hash(),
    previousHash: null,
    retiredHashes: [],
    rotatedAt: null,
    rotationAnswer: null,
    rotationLease: null,
    rotationLeaseUntil: null,
    idpRefreshToken: `sealed.${random()}`,
    idpAccessToken: null,
    idpAccessExpiresAt: null,
    idpSessionId: null,
    claims: JSON.stringify({ sub: "alice", email: "alice@example.com", roles: ["admin"] }),
    scope: "openid profile email offline_access",
    createdAt: 1_700_000_000,
    expiresAt: FUTURE,
    ...overrides,
  };
}

const byGeneration = (a: SigningKeyRecord, b: SigningKeyRecord) => a.generation - b.generation;

/**
 * Registers a `describe` block that checks the whole {@link BrokerStore} contract against the
 * store `makeStore` opens (once for the block). The tests share that store and run in order:
 * the signing-key tests build on each other; every other test uses rows of its own.
 */
export function describeBrokerStore(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`BrokerStore: ${name}`, () => {
    let under: StoreUnderTest | undefined;
    let failure: unknown;
    // A store that cannot be opened (say, Postgres is down) fails every test with the reason:
    // nothing is reported as skipped.
    const store = (): BrokerStore => {
      if (!under) {
        const reason = failure instanceof Error ? failure.message : String(failure);
        throw new Error(`the store "${name}" could not be opened: ${reason}`, { cause: failure });
      }
      return under.store;
    };

    beforeAll(async () => {
      try {
        under = await makeStore();
      } catch (err) {
        failure = err;
      }
    });
    afterAll(async () => {
      await under?.cleanup();
    });

    it("setup() can run again, also twice at once", async () => {
      await store().setup();
      await Promise.all([store().setup(), store().setup()]);
      expect(await store().listSigningKeys()).toEqual([]);
    });

    describe("signing keys (in order)", () => {
      const first = key(1);
      const second = key(2);
      const third = key(3);

      it("inserts a key and lists it exactly", async () => {
        expect(await store().insertSigningKey(first)).toBe(true);
        expect(await store().listSigningKeys()).toEqual([first]);
      });

      it("refuses a second key of the same generation (false, nothing changes)", async () => {
        const rival = key(1, { alg: "ES256", privateKey: "rival" });
        expect(await store().insertSigningKey(rival)).toBe(false);
        expect(await store().listSigningKeys()).toEqual([first]);
      });

      it("refuses a key whose kid exists (false, nothing changes)", async () => {
        const sameKid = key(2, { kid: first.kid });
        expect(await store().insertSigningKey(sameKid)).toBe(false);
        expect(await store().listSigningKeys()).toEqual([first]);
      });

      it("many instances inserting generation 2 at once: exactly one wins", async () => {
        const rivals = [second, ...Array.from({ length: 9 }, () => key(2))];
        const answers = await Promise.all(rivals.map((k) => store().insertSigningKey(k)));
        expect(answers.filter(Boolean)).toHaveLength(1);
        const winner = rivals[answers.indexOf(true)];
        const listed = (await store().listSigningKeys()).sort(byGeneration);
        expect(listed).toEqual([first, winner]);
      });

      it("retires keys of older generations that are not retired yet", async () => {
        expect(await store().insertSigningKey(third)).toBe(true);
        await store().retireSigningKeys(2, 100); // generation 1
        await store().retireSigningKeys(3, 200); // generation 2 (1 keeps 100)
        const listed = (await store().listSigningKeys()).sort(byGeneration);
        expect(listed.map((k) => [k.generation, k.retiredAt])).toEqual([
          [1, 100],
          [2, 200],
          [3, null],
        ]);
        expect(listed[2]).toEqual(third);
      });

      it("deletes keys retired strictly before a time, never the active one", async () => {
        expect(await store().deleteSigningKeys(100)).toBe(0);
        expect(await store().deleteSigningKeys(150)).toBe(1);
        expect((await store().listSigningKeys()).map((k) => k.generation).sort()).toEqual([2, 3]);
        expect(await store().deleteSigningKeys(FUTURE)).toBe(1);
        expect(await store().listSigningKeys()).toEqual([third]);
        // The freed generations stay free for nobody in practice, but the table allows them.
        expect(await store().insertSigningKey(key(4))).toBe(true);
        expect(await store().insertSigningKey(key(4))).toBe(false);
      });

      it("rotateSigningKey inserts and retires every older key in one step", async () => {
        const fifth = key(5);
        expect(await store().rotateSigningKey(fifth, 500)).toBe(true);
        const listed = (await store().listSigningKeys()).sort(byGeneration);
        expect(listed.map((k) => [k.generation, k.retiredAt])).toEqual([
          [3, 500],
          [4, 500],
          [5, null],
        ]);
        expect(listed[2]).toEqual(fifth);
        // A clash changes nothing, the retirements included.
        expect(await store().rotateSigningKey(key(5), 600)).toBe(false);
        expect((await store().listSigningKeys()).find((k) => k.generation === 5)?.retiredAt).toBe(
          null,
        );
      });

      it("10 instances rotating to the same generation at once: one wins, one key active", async () => {
        const rivals = Array.from({ length: 10 }, () => key(6));
        const answers = await Promise.all(rivals.map((k) => store().rotateSigningKey(k, 700)));
        expect(answers.filter(Boolean)).toHaveLength(1);
        const active = (await store().listSigningKeys()).filter((k) => k.retiredAt === null);
        expect(active).toEqual([rivals[answers.indexOf(true)]]);
      });
    });

    describe("sessions", () => {
      it("creates a session and reads it back exactly, by id and by its refresh hash", async () => {
        const s = session();
        await store().createSession(s);
        expect(await store().getSession(s.id)).toEqual(s);
        expect(await store().findSessionByRefreshHash(s.refreshHash)).toEqual(s);
      });

      it("finds a session by the hash of any credential it replaced", async () => {
        const older = [hash(), hash(), hash()];
        const s = session({
          previousHash: older[2] as string,
          retiredHashes: older,
          rotatedAt: 1_700_000_100,
          rotationAnswer: "sealed.answer",
          idpAccessToken: `sealed.${random()}`,
          idpAccessExpiresAt: 1_700_000_400,
        });
        await store().createSession(s);
        for (const h of older) expect(await store().findSessionByRefreshHash(h)).toEqual(s);
      });

      it("answers undefined for an unknown id or hash", async () => {
        expect(await store().getSession(random())).toBeUndefined();
        expect(await store().findSessionByRefreshHash(hash())).toBeUndefined();
      });

      it("refuses a second session with the same id", async () => {
        const s = session();
        await store().createSession(s);
        await expect(store().createSession(session({ id: s.id }))).rejects.toThrow();
        expect(await store().getSession(s.id)).toEqual(s);
      });

      it("updateSession applies changes when the expected hash is current", async () => {
        const s = session();
        await store().createSession(s);
        const next = hash();
        const changes = {
          refreshHash: next,
          previousHash: s.refreshHash,
          rotatedAt: 1_700_000_200,
          rotationAnswer: null,
          idpRefreshToken: null,
          claims: JSON.stringify({ sub: "alice", name: UNICODE }),
          scope: "openid",
          expiresAt: FUTURE + 1,
        };
        expect(await store().updateSession(s.id, s.refreshHash, changes)).toBe(true);
        const expected = { ...s, ...changes };
        expect(await store().getSession(s.id)).toEqual(expected);
        expect(await store().findSessionByRefreshHash(next)).toEqual(expected);
        // Only a completed rotation retires a credential.
        expect(await store().findSessionByRefreshHash(s.refreshHash)).toBeUndefined();

        // Only the fields named change; undefined ones are left alone.
        expect(
          await store().updateSession(s.id, next, {
            rotationAnswer: "sealed.answer",
            scope: undefined,
          }),
        ).toBe(true);
        expect(await store().getSession(s.id)).toEqual({
          ...expected,
          rotationAnswer: "sealed.answer",
        });
      });

      it("updateSession with a stale or unknown hash changes nothing and answers false", async () => {
        const s = session();
        await store().createSession(s);
        const next = hash();
        expect(
          await store().updateSession(s.id, s.refreshHash, {
            refreshHash: next,
            previousHash: s.refreshHash,
          }),
        ).toBe(true);
        const current = await store().getSession(s.id);
        // The replaced hash is stale now.
        expect(
          await store().updateSession(s.id, s.refreshHash, { refreshHash: hash(), scope: "x" }),
        ).toBe(false);
        expect(await store().updateSession(s.id, hash(), { scope: "x" })).toBe(false);
        expect(await store().updateSession(random(), next, { scope: "x" })).toBe(false);
        expect(await store().getSession(s.id)).toEqual(current);
      });

      it("updateSession with no changes only answers whether the hash is current", async () => {
        const s = session();
        await store().createSession(s);
        expect(await store().updateSession(s.id, s.refreshHash, {})).toBe(true);
        expect(await store().updateSession(s.id, hash(), {})).toBe(false);
        expect(await store().getSession(s.id)).toEqual(s);
      });

      it("20 concurrent updateSession calls with the same expected hash: exactly one wins", async () => {
        const s = session();
        await store().createSession(s);
        const candidates = Array.from({ length: 20 }, () => hash());
        const answers = await Promise.all(
          candidates.map((next) =>
            store().updateSession(s.id, s.refreshHash, {
              refreshHash: next,
              previousHash: s.refreshHash,
              rotatedAt: 1_700_000_300,
            }),
          ),
        );
        expect(answers.filter(Boolean)).toHaveLength(1);
        const winner = candidates[answers.indexOf(true)];
        expect(await store().getSession(s.id)).toEqual({
          ...s,
          refreshHash: winner,
          previousHash: s.refreshHash,
          rotatedAt: 1_700_000_300,
        });
        for (const loser of candidates.filter((c) => c !== winner)) {
          expect(await store().findSessionByRefreshHash(loser)).toBeUndefined();
        }
      });

      it("deleteSession removes a session; deleting again or an unknown id is fine", async () => {
        const retired = hash();
        const s = session({ previousHash: retired, retiredHashes: [retired] });
        const other = session();
        await store().createSession(s);
        await store().createSession(other);
        await store().deleteSession(s.id);
        expect(await store().getSession(s.id)).toBeUndefined();
        expect(await store().findSessionByRefreshHash(s.refreshHash)).toBeUndefined();
        expect(await store().findSessionByRefreshHash(s.previousHash as string)).toBeUndefined();
        await store().deleteSession(s.id);
        await store().deleteSession(random());
        expect(await store().getSession(other.id)).toEqual(other);
      });

      it("purgeExpired deletes exactly the sessions with expiresAt <= now", async () => {
        const expired = [session({ expiresAt: 100 }), session({ expiresAt: 200 })];
        const alive = [session({ expiresAt: 201 }), session({ expiresAt: 300 })];
        for (const s of [...expired, ...alive]) await store().createSession(s);
        expect(await store().purgeExpired(200)).toBe(2);
        for (const s of expired) expect(await store().getSession(s.id)).toBeUndefined();
        for (const s of alive) expect(await store().getSession(s.id)).toEqual(s);
        expect(await store().purgeExpired(200)).toBe(0);
        expect(await store().purgeExpired(300)).toBe(2);
      });
    });

    describe("rotation: lease, one conditional update, the credential chain", () => {
      const T = 1_800_000_000;
      const outcome = (overrides: Partial<RotationOutcome> = {}): RotationOutcome => ({
        refreshHash: hash(),
        rotatedAt: T + 5,
        rotationAnswer: "sealed.answer",
        idpRefreshToken: `sealed.${random()}`,
        idpAccessToken: null,
        idpAccessExpiresAt: null,
        claims: JSON.stringify({ sub: "alice", name: UNICODE }),
        scope: "openid",
        expiresAt: FUTURE - 1,
        ...overrides,
      });

      it("claims the lease once; a held lease refuses others until it runs out", async () => {
        const s = session();
        await store().createSession(s);
        expect(await store().claimRotation(s.id, s.refreshHash, "a", T + 30, T)).toBe(true);
        expect(await store().claimRotation(s.id, s.refreshHash, "b", T + 30, T + 10)).toBe(false);
        expect(await store().claimRotation(s.id, hash(), "b", T + 99, T + 50)).toBe(false);
        expect(await store().claimRotation(random(), s.refreshHash, "b", T + 99, T)).toBe(false);
        // Ran out: the next claim wins.
        expect(await store().claimRotation(s.id, s.refreshHash, "c", T + 60, T + 30)).toBe(true);
        expect(await store().getSession(s.id)).toEqual({
          ...s,
          rotationLease: "c",
          rotationLeaseUntil: T + 60,
        });
      });

      it("20 concurrent claims: exactly one holds the lease", async () => {
        const s = session();
        await store().createSession(s);
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store().claimRotation(s.id, s.refreshHash, `lease-${i}`, T + 30, T),
          ),
        );
        expect(answers.filter(Boolean)).toHaveLength(1);
        expect((await store().getSession(s.id))?.rotationLease).toBe(
          `lease-${answers.indexOf(true)}`,
        );
      });

      it("releaseRotation gives back only the caller's own lease", async () => {
        const s = session();
        await store().createSession(s);
        await store().claimRotation(s.id, s.refreshHash, "mine", T + 30, T);
        await store().releaseRotation(s.id, "someone-else");
        expect((await store().getSession(s.id))?.rotationLease).toBe("mine");
        await store().releaseRotation(s.id, "mine");
        expect(await store().getSession(s.id)).toEqual(s);
        expect(await store().claimRotation(s.id, s.refreshHash, "next", T + 30, T)).toBe(true);
      });

      it("completeRotation replaces the credential, retires the old one and clears the lease", async () => {
        const s = session();
        await store().createSession(s);
        await store().claimRotation(s.id, s.refreshHash, "lease", T + 30, T);
        const first = outcome();
        expect(await store().completeRotation(s.id, s.refreshHash, "lease", first)).toBe(true);
        const after = {
          ...s,
          ...first,
          previousHash: s.refreshHash,
          retiredHashes: [s.refreshHash],
          rotationLease: null,
          rotationLeaseUntil: null,
        };
        expect(await store().getSession(s.id)).toEqual(after);
        expect(await store().findSessionByRefreshHash(first.refreshHash)).toEqual(after);
        expect(await store().findSessionByRefreshHash(s.refreshHash)).toEqual(after);

        // Two more rotations: every retired credential still finds the session.
        let current = first.refreshHash;
        const chain = [s.refreshHash];
        for (const lease of ["l2", "l3"]) {
          await store().claimRotation(s.id, current, lease, T + 30, T);
          const next = outcome({ idpAccessToken: `sealed.${random()}`, idpAccessExpiresAt: T + 9 });
          expect(await store().completeRotation(s.id, current, lease, next)).toBe(true);
          chain.push(current);
          current = next.refreshHash;
        }
        const last = await store().getSession(s.id);
        expect(last?.retiredHashes).toEqual(chain);
        expect(last?.previousHash).toBe(chain[2]);
        for (const h of chain) expect((await store().findSessionByRefreshHash(h))?.id).toBe(s.id);
      });

      it("completeRotation without the lease, or for a replaced credential, changes nothing", async () => {
        const s = session();
        await store().createSession(s);
        expect(
          await store().completeRotation(s.id, s.refreshHash, "never-claimed", outcome()),
        ).toBe(false);
        await store().claimRotation(s.id, s.refreshHash, "lease", T + 30, T);
        const held = await store().getSession(s.id);
        expect(await store().completeRotation(s.id, s.refreshHash, "other", outcome())).toBe(false);
        expect(await store().completeRotation(s.id, hash(), "lease", outcome())).toBe(false);
        expect(await store().getSession(s.id)).toEqual(held);
      });

      it("deleteSessionsOfSubject removes every session of that subject and no other", async () => {
        const subject = `https://idp.example.com|${random()}`;
        const mine = [session({ subject }), session({ subject })];
        const other = session();
        for (const s of [...mine, other]) await store().createSession(s);
        expect(await store().deleteSessionsOfSubject(subject)).toBe(2);
        for (const s of mine) expect(await store().getSession(s.id)).toBeUndefined();
        expect(await store().getSession(other.id)).toEqual(other);
        expect(await store().deleteSessionsOfSubject(subject)).toBe(0);
      });
    });

    describe("back-channel logout: IdP login sessions", () => {
      const T = 1_800_000_000;
      const sid = () => `sid-${random()}`;

      it("keeps idpSessionId through create, both reads, updates and rotations", async () => {
        const s = session({ idpSessionId: sid(), retiredHashes: [hash()] });
        await store().createSession(s);
        expect(await store().getSession(s.id)).toEqual(s);
        expect(await store().findSessionByRefreshHash(s.refreshHash)).toEqual(s);
        expect(await store().findSessionByRefreshHash(s.retiredHashes[0] as string)).toEqual(s);

        // Changes that do not name it leave it alone; naming it (null included) changes it.
        expect(await store().updateSession(s.id, s.refreshHash, { scope: "openid" })).toBe(true);
        expect((await store().getSession(s.id))?.idpSessionId).toBe(s.idpSessionId);
        const other = sid();
        expect(await store().updateSession(s.id, s.refreshHash, { idpSessionId: other })).toBe(
          true,
        );
        expect((await store().getSession(s.id))?.idpSessionId).toBe(other);

        await store().claimRotation(s.id, s.refreshHash, "lease", T + 30, T);
        const next = hash();
        expect(
          await store().completeRotation(s.id, s.refreshHash, "lease", {
            refreshHash: next,
            rotatedAt: T,
            rotationAnswer: "sealed.answer",
            idpRefreshToken: null,
            idpAccessToken: null,
            idpAccessExpiresAt: null,
            claims: "{}",
            scope: "openid",
            expiresAt: FUTURE,
          }),
        ).toBe(true);
        expect((await store().findSessionByRefreshHash(next))?.idpSessionId).toBe(other);

        expect(await store().updateSession(s.id, next, { idpSessionId: null })).toBe(true);
        expect((await store().getSession(s.id))?.idpSessionId).toBeNull();
      });

      it("deleteSessionsOfIdpSession removes exactly the sessions of that IdP session and answers how many", async () => {
        const target = sid();
        const subject = `https://idp.example.com|${random()}`;
        const retired = hash();
        const ended = [
          session({ idpSessionId: target, subject }),
          session({ idpSessionId: target, previousHash: retired, retiredHashes: [retired] }),
        ];
        const kept = [
          session({ idpSessionId: sid(), subject }), // the same user, another login
          session({ idpSessionId: target.toUpperCase() }), // ids compare exactly, case included
          session({ idpSessionId: `${target} ` }),
          session({ idpSessionId: null }),
        ];
        for (const s of [...ended, ...kept]) await store().createSession(s);

        expect(await store().deleteSessionsOfIdpSession(target)).toBe(2);
        for (const s of ended) {
          expect(await store().getSession(s.id)).toBeUndefined();
          expect(await store().findSessionByRefreshHash(s.refreshHash)).toBeUndefined();
        }
        // The replaced credential no longer leads anywhere either.
        expect(await store().findSessionByRefreshHash(retired)).toBeUndefined();
        for (const s of kept) expect(await store().getSession(s.id)).toEqual(s);

        expect(await store().deleteSessionsOfIdpSession(target)).toBe(0);
        expect(await store().deleteSessionsOfIdpSession(sid())).toBe(0);
      });
    });

    describe("back-channel logout: single-use ids", () => {
      /** Far below every other test's times: the purge here touches nothing of theirs. */
      const T = 1_000_000;
      const jti = () => `jti-${random()}`;

      it("useOnce answers true the first time, false while the record lasts", async () => {
        const id = jti();
        expect(await store().useOnce(id, T + 60, T)).toBe(true);
        expect(await store().useOnce(id, T + 60, T)).toBe(false);
        expect(await store().useOnce(id, T + 999, T + 59)).toBe(false);
        // Every id on its own; case counts.
        expect(await store().useOnce(jti(), T + 60, T)).toBe(true);
        const upper = id.toUpperCase();
        expect(upper).not.toBe(id);
        expect(await store().useOnce(upper, T + 60, T)).toBe(true);
        expect(await store().useOnce(`${id} `, T + 60, T)).toBe(true); // trailing spaces count
      });

      it("an expired record is replaced: true again at its expiry, then false until the new one", async () => {
        const id = jti();
        expect(await store().useOnce(id, T + 60, T)).toBe(true);
        expect(await store().useOnce(id, T + 200, T + 60)).toBe(true); // expiresAt <= now: gone
        expect(await store().useOnce(id, T + 300, T + 61)).toBe(false);
        expect(await store().useOnce(id, T + 300, T + 199)).toBe(false);
        expect(await store().useOnce(id, T + 300, T + 200)).toBe(true);
      });

      it("keeps ids of 255 characters whole, unicode and quotes included", async () => {
        const long = `${SID_255.slice(0, 255 - 36)}${random()}`;
        expect(long).toHaveLength(255);
        const sibling = `${long.slice(0, 254)}!`;
        expect(await store().useOnce(long, T + 60, T)).toBe(true);
        expect(await store().useOnce(sibling, T + 60, T)).toBe(true);
        expect(await store().useOnce(long, T + 60, T)).toBe(false);
        expect(await store().useOnce(sibling, T + 60, T)).toBe(false);
      });

      it("10 concurrent useOnce with one id: exactly one true", async () => {
        const id = jti();
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => store().useOnce(id, T + 60, T)),
        );
        expect(answers.filter(Boolean)).toHaveLength(1);
        expect(await store().useOnce(id, T + 60, T + 1)).toBe(false);
      });

      it("10 concurrent useOnce of an expired record: exactly one replaces it", async () => {
        const id = jti();
        expect(await store().useOnce(id, T + 60, T)).toBe(true);
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => store().useOnce(id, T + 600, T + 100)),
        );
        expect(answers.filter(Boolean)).toHaveLength(1);
        expect(await store().useOnce(id, T + 600, T + 101)).toBe(false);
      });

      it("purgeExpired deletes the records with expiresAt <= now, and only those", async () => {
        const [expired, boundary, alive] = [jti(), jti(), jti()];
        await store().useOnce(expired, T + 5, T);
        await store().useOnce(boundary, T + 10, T);
        await store().useOnce(alive, T + 11, T);
        // Single-use ids are not sessions: the answer counts sessions only (none expire here).
        expect(await store().purgeExpired(T + 10)).toBe(0);
        // Asked with a clock back at T, a kept record still refuses; a purged one is gone.
        expect(await store().useOnce(alive, T + 60, T)).toBe(false);
        expect(await store().useOnce(expired, T + 60, T)).toBe(true);
        expect(await store().useOnce(boundary, T + 60, T)).toBe(true);
      });
    });

    describe("native logins", () => {
      const T = 1_850_000_000;
      const login = (overrides: Partial<NativeLoginRecord> = {}): NativeLoginRecord => ({
        codeChallenge: hash().slice(0, 43),
        nonce: random(),
        redirectUri: "http://127.0.0.1:8765/callback",
        client: `10.0.0.${Math.floor(Math.random() * 250)}|${random()}`,
        expiresAt: T + 600,
        ...overrides,
      });

      it("stores a login and takes it exactly once", async () => {
        const l = login();
        expect(await store().putNativeLogin(l, 5, T)).toBe("stored");
        expect(await store().takeNativeLogin(l.codeChallenge, T + 1)).toEqual(l);
        expect(await store().takeNativeLogin(l.codeChallenge, T + 1)).toBeUndefined();
      });

      it("refuses a second pending login with the same challenge", async () => {
        const l = login();
        expect(await store().putNativeLogin(l, 5, T)).toBe("stored");
        expect(await store().putNativeLogin({ ...l, nonce: "other", client: "x" }, 5, T)).toBe(
          "duplicate",
        );
        expect(await store().takeNativeLogin(l.codeChallenge, T)).toEqual(l);
      });

      it("bounds the pending logins of one client without touching other clients'", async () => {
        const client = `flood|${random()}`;
        const victim = login();
        await store().putNativeLogin(victim, 3, T);
        const answers = [];
        for (let i = 0; i < 5; i++)
          answers.push(await store().putNativeLogin(login({ client }), 3, T));
        expect(answers).toEqual(["stored", "stored", "stored", "limit", "limit"]);
        expect(await store().takeNativeLogin(victim.codeChallenge, T)).toEqual(victim);
      });

      it("expired logins are not taken, do not count, and are purged", async () => {
        const client = `expiring|${random()}`;
        const old = login({ client, expiresAt: T + 10 });
        await store().putNativeLogin(old, 1, T);
        expect(await store().putNativeLogin(login({ client }), 1, T + 5)).toBe("limit");
        expect(await store().putNativeLogin(login({ client }), 1, T + 10)).toBe("stored");
        // The same challenge may start again once its login expired.
        expect(await store().putNativeLogin({ ...old, expiresAt: T + 700 }, 5, T + 10)).toBe(
          "stored",
        );
        const stale = login({ expiresAt: T + 20 });
        await store().putNativeLogin(stale, 5, T);
        await store().purgeExpired(T + 20);
        expect(await store().takeNativeLogin(stale.codeChallenge, T)).toBeUndefined();
      });
    });

    describe("rate-limit buckets", () => {
      /** Far from the session purge test's times, so that it never touches these buckets. */
      const T = 1_900_000_000.25;
      const take = (key: string, limit: TokenBucketLimit, now: number) => {
        const s = store();
        if (!s.takeRateLimitToken) throw new Error("this store does not share rate limits");
        return s.takeRateLimitToken(key, limit, now);
      };
      const bucketKey = () => `login:ip:${random()}`;

      it("a new bucket is full: takes until it is empty, then refuses", async () => {
        const key = bucketKey();
        const limit = { capacity: 3, refillPerSec: 1 };
        expect(await take(key, limit, T)).toEqual({ allowed: true, tokens: 2 });
        expect(await take(key, limit, T)).toEqual({ allowed: true, tokens: 1 });
        expect(await take(key, limit, T)).toEqual({ allowed: true, tokens: 0 });
        expect(await take(key, limit, T)).toEqual({ allowed: false, tokens: 0 });
      });

      it("refills with time, in fractions, never above capacity", async () => {
        const key = bucketKey();
        const limit = { capacity: 2, refillPerSec: 0.5 };
        await take(key, limit, T);
        await take(key, limit, T);
        const early = await take(key, limit, T + 1);
        expect(early.allowed).toBe(false);
        expect(early.tokens).toBeCloseTo(0.5, 9);
        const later = await take(key, limit, T + 3); // 0.5 + 2 s × 0.5, less the one taken
        expect(later.allowed).toBe(true);
        expect(later.tokens).toBeCloseTo(0.5, 9);
        expect(await take(key, limit, T + 10_000)).toEqual({ allowed: true, tokens: 1 });
      });

      it("a clock behind the bucket's adds nothing", async () => {
        const key = bucketKey();
        const limit = { capacity: 1, refillPerSec: 1 };
        expect((await take(key, limit, T)).allowed).toBe(true);
        expect(await take(key, limit, T - 3600)).toEqual({ allowed: false, tokens: 0 });
        // Counted from T, not from the clock that was behind.
        expect((await take(key, limit, T + 0.5)).allowed).toBe(false);
        expect((await take(key, limit, T + 1)).allowed).toBe(true);
      });

      it("keeps every key apart", async () => {
        const limit = { capacity: 1, refillPerSec: 0.001 };
        const [a, b] = [bucketKey(), bucketKey()];
        expect((await take(a, limit, T)).allowed).toBe(true);
        expect((await take(a, limit, T)).allowed).toBe(false);
        expect((await take(b, limit, T)).allowed).toBe(true);
      });

      it("25 concurrent takes from a bucket of 10: exactly 10 win", async () => {
        const key = bucketKey();
        const limit = { capacity: 10, refillPerSec: 0.001 };
        const answers = await Promise.all(Array.from({ length: 25 }, () => take(key, limit, T)));
        expect(answers.filter((a) => a.allowed)).toHaveLength(10);
        expect(await take(key, limit, T)).toEqual({ allowed: false, tokens: 0 });
      });

      it("purgeExpired deletes the buckets that are full again, and only those", async () => {
        const [refilled, draining] = [bucketKey(), bucketKey()];
        const fast = { capacity: 2, refillPerSec: 1 };
        const slow = { capacity: 10, refillPerSec: 0.01 };
        await take(refilled, fast, T); // full again at T + 1
        for (let i = 0; i < 5; i++) await take(draining, slow, T); // full again at T + 500
        await store().purgeExpired(Math.ceil(T + 2)); // purge times are whole seconds
        // A purged bucket starts full even for a clock behind: 1 left, not 0.
        expect(await take(refilled, fast, T - 50)).toEqual({ allowed: true, tokens: 1 });
        const kept = await take(draining, slow, T + 2);
        expect(kept.allowed).toBe(true);
        expect(kept.tokens).toBeCloseTo(4.02, 9);
      });
    });

    describe("peer JWKS", () => {
      const jwks = (n: string): PeerJwksRecord["jwks"] => ({
        keys: [
          {
            kty: "RSA",
            kid: `rsa-${n}`,
            alg: "RS256",
            use: "sig",
            n: LONG.slice(0, 700),
            e: "AQAB",
          },
          {
            kty: "OKP",
            crv: "Ed25519",
            kid: `ed-${n}`,
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
          },
          {
            kty: "EC",
            crv: "P-256",
            kid: UNICODE,
            x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            key_ops: ["verify"],
          },
        ],
      });

      it("answers undefined for an unknown issuer", async () => {
        expect(await store().getPeerJwks(`https://${random()}.example.com`)).toBeUndefined();
      });

      it("stores a JWKS and reads it back exactly", async () => {
        const record = {
          issuer: `https://${random()}.example.com/broker`,
          jwks: jwks("1"),
          fetchedAt: 1_700_000_000,
        };
        await store().putPeerJwks(record);
        expect(await store().getPeerJwks(record.issuer)).toEqual(record);
      });

      it("replaces the JWKS of an issuer (upsert), leaving other issuers alone", async () => {
        const issuer = `https://${random()}.example.com`;
        const other = {
          issuer: `https://${random()}.example.com`,
          jwks: jwks("other"),
          fetchedAt: 5,
        };
        await store().putPeerJwks(other);
        await store().putPeerJwks({ issuer, jwks: jwks("old"), fetchedAt: 1 });
        const replacement = { issuer, jwks: { keys: [] }, fetchedAt: 2 };
        await store().putPeerJwks(replacement);
        expect(await store().getPeerJwks(issuer)).toEqual(replacement);
        await store().putPeerJwks({ issuer, jwks: jwks("new"), fetchedAt: 3 });
        expect(await store().getPeerJwks(issuer)).toEqual({
          issuer,
          jwks: jwks("new"),
          fetchedAt: 3,
        });
        expect(await store().getPeerJwks(other.issuer)).toEqual(other);
      });
    });

    describe("values", () => {
      it("round-trip exactly: nulls, ~8 KB strings, unicode, large times", async () => {
        expect(LONG.length).toBeGreaterThan(8000);
        const s = session({
          subject: UNICODE,
          refreshHash: `${hash()}-${UNICODE}`,
          previousHash: null,
          rotatedAt: null,
          rotationAnswer: LONG,
          idpRefreshToken: null,
          claims: JSON.stringify({ name: UNICODE, blob: LONG, nested: { list: [1, null, "x"] } }),
          scope: "",
          createdAt: 0,
          expiresAt: 9_007_199_254, // beyond 32 bits
        });
        await store().createSession(s);
        expect(await store().getSession(s.id)).toEqual(s);
        // Hashes are short (SHA-256 hex) and indexed; the sealed values may be long.
        const previous = `${hash()}-${UNICODE}`;
        const withAll = session({
          previousHash: previous,
          retiredHashes: [`${hash()}-"{,}"\\`, previous],
          rotatedAt: 2_147_483_648,
          rotationAnswer: UNICODE,
          rotationLease: UNICODE,
          rotationLeaseUntil: 9_007_199_254,
          idpRefreshToken: LONG,
          idpAccessToken: LONG,
          idpAccessExpiresAt: 4_102_444_800,
          idpSessionId: SID_255,
        });
        await store().createSession(withAll);
        expect(await store().findSessionByRefreshHash(previous)).toEqual(withAll);

        const k = key(100, { privateKey: LONG, alg: "EdDSA", retiredAt: 4_102_444_800 });
        k.publicJwk = { ...k.publicJwk, x5t: UNICODE };
        expect(await store().insertSigningKey(k)).toBe(true);
        expect((await store().listSigningKeys()).find((r) => r.kid === k.kid)).toEqual(k);
      });

      it("are copies: mutating what went in or came out does not change the store", async () => {
        const s = session();
        const original = structuredClone(s);
        await store().createSession(s);
        s.subject = "mallory";
        s.refreshHash = hash();
        const read = (await store().getSession(original.id)) as SessionRecord;
        read.scope = "admin";
        read.expiresAt = FUTURE * 2;
        const found = (await store().findSessionByRefreshHash(
          original.refreshHash,
        )) as SessionRecord;
        found.claims = "{}";
        expect(await store().getSession(original.id)).toEqual(original);

        const k = key(101);
        const kOriginal = structuredClone(k);
        await store().insertSigningKey(k);
        k.publicJwk.n = "tampered";
        const listed = (await store().listSigningKeys()).find(
          (r) => r.kid === k.kid,
        ) as SigningKeyRecord;
        listed.publicJwk.kid = "tampered";
        listed.retiredAt = 1;
        expect((await store().listSigningKeys()).find((r) => r.kid === k.kid)).toEqual(kOriginal);

        const record = {
          issuer: `https://${random()}.example.com`,
          jwks: { keys: [{ kty: "OKP", kid: "a" }] },
          fetchedAt: 7,
        };
        const rOriginal = structuredClone(record);
        await store().putPeerJwks(record);
        (record.jwks.keys[0] as { kid: string }).kid = "tampered";
        const got = (await store().getPeerJwks(record.issuer)) as PeerJwksRecord;
        got.jwks.keys.push({ kty: "oct" });
        expect(await store().getPeerJwks(record.issuer)).toEqual(rOriginal);
      });
    });
  });
}
