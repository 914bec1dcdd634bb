import { SignJWT } from "jose";
import * as oauth from "oauth4webapi";
import type { IDToken } from "../claims.js";
import type { ResolvedConfig } from "../config.js";
import { badRequest, OIDCAuthError, storeUnavailable } from "../errors.js";
import { describeError } from "../log.js";
import type { IdentityProvider } from "../provider.js";
import type { TokenAnswer } from "../responses.js";
import { Sealer } from "../seal.js";
import type { KeysRemovedListener } from "../token-cache.js";
import type { AccessTokenVerifier } from "../verify.js";
import { AtRest } from "./at-rest.js";
import { PeerKeys } from "./federation.js";
import type { BrokerIdentity } from "./identity.js";
import { identityFromTokens } from "./identity.js";
import { SigningKeys } from "./keys.js";
import { MemoryBrokerStore } from "./memory-store.js";
import type { BrokerStore, SessionRecord } from "./store.js";
import { BrokerTokenVerifier } from "./verify.js";

const now = () => Math.floor(Date.now() / 1000);
const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Opens the store named by configuration. Postgres and PGlite live in @oidc-auth/drizzle. */
async function openStore(config: ResolvedConfig): Promise<BrokerStore> {
  if (config.brokerStore) {
    const store =
      typeof config.brokerStore === "function" ? await config.brokerStore() : config.brokerStore;
    await store.setup();
    return store;
  }
  const url = config.brokerStoreUrl;
  if (url === "memory://") return new MemoryBrokerStore();
  // A specifier in a variable keeps bundlers of edge apps from pulling database drivers in.
  const drizzlePackage = "@oidc-auth/drizzle";
  let module: {
    createBrokerStore(url: string | undefined, opts: { appName: string }): Promise<BrokerStore>;
  };
  try {
    module = await import(
      /* webpackIgnore: true */ /* turbopackIgnore: true */ /* @vite-ignore */ drizzlePackage
    );
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") throw err;
    throw new Error(
      `broker store ${url ? "URL" : "default (embedded PGlite)"} needs the package @oidc-auth/drizzle: install it, or set brokerStoreUrl "memory://" or pass brokerStore`,
    );
  }
  return module.createBrokerStore(url, { appName: config.appName });
}

/**
 * Broker mode: after a login at the IdP, the broker keeps the IdP session server-side and
 * hands the client its own short-lived signed access token plus an opaque refresh
 * credential (stored only as a hash). Refresh rotates the credential atomically; reuse of
 * a replaced credential revokes the session.
 */
export class Broker {
  readonly #config: ResolvedConfig;
  readonly #provider: IdentityProvider;
  readonly #idpVerifier: AccessTokenVerifier;
  readonly #rolePaths: string[];
  readonly #idpTokens: AtRest;
  readonly keys: SigningKeys;
  readonly verifier: BrokerTokenVerifier;
  #store: Promise<BrokerStore> | undefined;
  /** In-process single flight: concurrent refreshes of one credential share one rotation. */
  readonly #refreshing = new Map<string, Promise<TokenAnswer>>();

  constructor(
    config: ResolvedConfig,
    provider: IdentityProvider,
    idpVerifier: AccessTokenVerifier,
    onKeysRemoved?: KeysRemovedListener,
  ) {
    this.#config = config;
    this.#provider = provider;
    this.#idpVerifier = idpVerifier;
    this.#rolePaths = config.roleClaims.map((p) => p.replaceAll("{clientId}", config.clientId));
    const secrets = config.secrets;
    if (!secrets) {
      config.logger.warn(
        "broker mode without a secret: IdP refresh tokens and the signing key are stored unencrypted",
      );
    }
    this.#idpTokens = new AtRest(secrets, "idp-refresh-token");
    const storeRef = () => this.store();
    const lazyStore = lazyStoreProxy(storeRef);
    this.keys = new SigningKeys({
      store: lazyStore,
      atRest: new AtRest(secrets, "signing-key"),
      algorithm: config.brokerAlgorithm,
      retentionSec: config.brokerTokenTtlSec + config.clockToleranceSec,
      rotationIntervalSec: config.keyRotationIntervalSec,
      reloadCooldownMs: config.jwksCooldownMs,
      logger: config.logger,
      onKeysRemoved,
    });
    this.verifier = new BrokerTokenVerifier(
      config,
      config.brokerIssuer,
      this.keys,
      new PeerKeys(config, storeRef, onKeysRemoved),
    );
  }

  /** The store, opened on first use; a failure is retried on the next call. */
  store(): Promise<BrokerStore> {
    if (!this.#store) {
      const opening = openStore(this.#config);
      this.#store = opening;
      opening.catch(() => {
        if (this.#store === opening) this.#store = undefined;
      });
    }
    return this.#store;
  }

  /** Runs store work; an unreachable store is a 503 and changes nothing. */
  async #db<T>(work: (store: BrokerStore) => Promise<T>): Promise<T> {
    let store: BrokerStore;
    try {
      store = await this.store();
    } catch (err) {
      if (err instanceof Error && err.message.includes("@oidc-auth/drizzle")) throw err;
      this.#config.logger.error("broker store unavailable", describeError(err));
      throw storeUnavailable();
    }
    try {
      return await work(store);
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      this.#config.logger.error("broker store operation failed", describeError(err));
      throw storeUnavailable();
    }
  }

  /**
   * Signs a broker access token for an identity. `notAfter` (unix seconds) caps its `exp`,
   * e.g. at the exp of the subject token it was exchanged for.
   */
  async mint(
    identity: BrokerIdentity,
    scope: string,
    sessionId?: string,
    notAfter?: number,
  ): Promise<{ token: string; expiresIn: number }> {
    const key = await this.#keysOrUnavailable();
    const issuedAt = now();
    const ttl = Math.min(this.#config.brokerTokenTtlSec, (notAfter ?? Infinity) - issuedAt);
    if (!(ttl > 0)) throw badRequest("invalid_request", "The subject token has expired.");
    const { roleSources, ...named } = identity;
    const claims: Record<string, unknown> = { ...roleSources, ...named, scope };
    if (sessionId) claims.sid = sessionId;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "at+jwt" })
      .setIssuer(this.#config.brokerIssuer)
      .setAudience(this.#config.brokerAudience)
      .setSubject(identity.sub)
      .setJti(crypto.randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttl)
      .sign(key.privateKey);
    return { token, expiresIn: ttl };
  }

  async #keysOrUnavailable() {
    try {
      return await this.keys.active();
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      this.#config.logger.error("broker signing key unavailable", describeError(err));
      throw storeUnavailable();
    }
  }

  /** After a successful login at the IdP (code or device): a new session and its tokens. */
  async login(tokens: oauth.TokenEndpointResponse): Promise<TokenAnswer> {
    const identity = await identityFromTokens(
      tokens,
      this.#provider,
      this.#idpVerifier,
      this.#rolePaths,
    );
    if (!identity)
      throw badRequest("invalid_grant", "The identity provider did not identify the user.");
    const scope = tokens.scope ?? this.#config.scopes.join(" ");
    const credential = oauth.generateRandomState();
    const created = now();
    const session: SessionRecord = {
      id: crypto.randomUUID(),
      subject: identity.sub,
      refreshHash: await sha256Hex(credential),
      previousHash: null,
      rotatedAt: null,
      rotationAnswer: null,
      idpRefreshToken: tokens.refresh_token
        ? await this.#idpTokens.encrypt(tokens.refresh_token)
        : null,
      claims: JSON.stringify(identity),
      scope,
      createdAt: created,
      expiresAt: created + this.#config.brokerSessionTtlSec,
    };
    await this.#db((store) => store.createSession(session));
    this.#purgeNowAndThen();
    const { token, expiresIn } = await this.mint(identity, scope, session.id);
    return answer(token, expiresIn, scope, credential, session.expiresAt);
  }

  /**
   * Refresh with a broker refresh credential. Concurrent refreshes of one credential share
   * one rotation and one IdP call; a replaced credential used again revokes the session; a
   * transient IdP or store failure is a 503 and keeps the session as it was.
   */
  async refresh(credential: string): Promise<TokenAnswer> {
    if (credential.length > 256) throw invalidGrant();
    const hash = await sha256Hex(credential);
    const running = this.#refreshing.get(hash);
    if (running) return running;
    const work = this.#refresh(credential, hash).finally(() => this.#refreshing.delete(hash));
    this.#refreshing.set(hash, work);
    return work;
  }

  async #refresh(credential: string, hash: string): Promise<TokenAnswer> {
    const deadline = Date.now() + this.#config.timeoutMs + 5000;
    for (;;) {
      const session = await this.#db((store) => store.findSessionByRefreshHash(hash));
      if (!session) throw invalidGrant();
      if (session.expiresAt <= now()) {
        await this.#db((store) => store.deleteSession(session.id));
        throw invalidGrant();
      }
      if (session.refreshHash === hash) {
        const result = await this.#rotate(session, credential, hash);
        if (result) return result;
        continue; // another instance rotated first: look again
      }
      // The credential was replaced. Overlapping refreshes (another instance is rotating
      // right now) or, within the configured grace, a retry get the same answer.
      const inFlight = session.rotationAnswer === null;
      const grace = this.#config.refreshReuseGraceSec;
      const withinGrace =
        grace > 0 && session.rotatedAt !== null && now() - session.rotatedAt <= grace;
      if (session.rotationAnswer && withinGrace) {
        const shared = await new Sealer([credential], "rotation-answer").open(
          session.rotationAnswer,
        );
        if (shared) return shared as unknown as TokenAnswer;
      }
      if (inFlight && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const latest = await this.#db((store) => store.getSession(session.id));
        if (latest?.rotationAnswer && latest.previousHash === hash) {
          const shared = await new Sealer([credential], "rotation-answer").open(
            latest.rotationAnswer,
          );
          if (shared) return shared as unknown as TokenAnswer;
        }
        continue;
      }
      this.#config.logger.warn("refresh credential reused: session revoked", {
        session: session.id,
      });
      await this.#db((store) => store.deleteSession(session.id));
      await this.#revokeAtIdp(session);
      throw invalidGrant();
    }
  }

  /** One rotation: claim the row, ask the IdP, store the outcome. undefined if the claim was lost. */
  async #rotate(
    session: SessionRecord,
    credential: string,
    hash: string,
  ): Promise<TokenAnswer | undefined> {
    const next = oauth.generateRandomState();
    const nextHash = await sha256Hex(next);
    const claimed = await this.#db((store) =>
      store.updateSession(session.id, hash, {
        refreshHash: nextHash,
        previousHash: hash,
        rotatedAt: now(),
        rotationAnswer: null,
      }),
    );
    if (!claimed) return undefined;
    const rollback = () =>
      this.#db((store) =>
        store.updateSession(session.id, nextHash, {
          refreshHash: hash,
          previousHash: session.previousHash,
          rotatedAt: session.rotatedAt,
          rotationAnswer: session.rotationAnswer,
        }),
      ).catch((err) =>
        this.#config.logger.error("could not roll back a refresh", describeError(err)),
      );

    let identity = JSON.parse(session.claims) as BrokerIdentity;
    let idpRefreshToken = session.idpRefreshToken;
    let scope = session.scope;
    if (session.idpRefreshToken) {
      const idpToken = await this.#idpTokens.decrypt(session.idpRefreshToken);
      if (idpToken === undefined) {
        await rollback();
        this.#config.logger.error(
          "an IdP refresh token cannot be decrypted with the configured secrets",
        );
        throw storeUnavailable();
      }
      let tokens: oauth.TokenEndpointResponse;
      try {
        tokens = await this.#provider.refresh(idpToken);
      } catch (err) {
        if (err instanceof OIDCAuthError && err.status < 500) {
          // The IdP says this login is over.
          await this.#db((store) => store.deleteSession(session.id));
          throw invalidGrant();
        }
        await rollback();
        throw err instanceof OIDCAuthError ? err : storeUnavailable();
      }
      const refreshed = await identityFromTokens(
        tokens,
        this.#provider,
        this.#idpVerifier,
        this.#rolePaths,
      ).catch(() => undefined);
      if (refreshed && refreshed.sub === identity.sub) identity = refreshed;
      if (tokens.refresh_token)
        idpRefreshToken = await this.#idpTokens.encrypt(tokens.refresh_token);
      if (tokens.scope) scope = tokens.scope;
    }
    let minted: { token: string; expiresIn: number };
    try {
      minted = await this.mint(identity, scope, session.id);
    } catch (err) {
      await rollback();
      throw err;
    }
    const result = answer(minted.token, minted.expiresIn, scope, next, session.expiresAt);
    const sealed = await new Sealer([credential], "rotation-answer").seal({ ...result }, 120);
    const saved = await this.#saveRotation(session.id, nextHash, {
      idpRefreshToken,
      claims: JSON.stringify(identity),
      scope,
      rotationAnswer: sealed,
    });
    if (!saved) throw storeUnavailable();
    return result;
  }

  /** Stores a rotation's outcome, retrying briefly: the IdP may already have rotated its token. */
  async #saveRotation(
    id: string,
    hash: string,
    changes: Parameters<BrokerStore["updateSession"]>[2],
  ) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return await this.#db((store) => store.updateSession(id, hash, changes));
      } catch {
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
    return false;
  }

  /** Revokes the session a broker token or refresh credential belongs to (logout). */
  async revoke(input: { token?: IDToken; refreshCredential?: string }): Promise<boolean> {
    let session: SessionRecord | undefined;
    if (input.refreshCredential) {
      const hash = await sha256Hex(input.refreshCredential);
      session = await this.#db((store) => store.findSessionByRefreshHash(hash));
    } else if (isSessionId(input.token?.sid) && input.token.iss === this.#config.brokerIssuer) {
      const sid = input.token.sid;
      session = await this.#db((store) => store.getSession(sid));
      if (session && session.subject !== input.token.sub) session = undefined;
    }
    if (!session) return false;
    const id = session.id;
    await this.#db((store) => store.deleteSession(id));
    await this.#revokeAtIdp(session);
    return true;
  }

  async #revokeAtIdp(session: SessionRecord): Promise<void> {
    if (!session.idpRefreshToken) return;
    const token = await this.#idpTokens.decrypt(session.idpRefreshToken);
    if (token) await this.#provider.revoke(token);
  }

  /** The identity claims of a token's session (userinfo), or the token's own. */
  async sessionClaims(token: IDToken): Promise<Record<string, unknown>> {
    if (isSessionId(token.sid) && token.iss === this.#config.brokerIssuer) {
      const sid = token.sid;
      const session = await this.#db((store) => store.getSession(sid)).catch(() => undefined);
      if (session && session.subject === token.sub) {
        return { ...token, ...(JSON.parse(session.claims) as Record<string, unknown>) };
      }
    }
    return token;
  }

  #lastPurge = 0;

  /** Expired rows go at most once an hour, in the background of a login. */
  #purgeNowAndThen(): void {
    if (Date.now() - this.#lastPurge < 3600_000) return;
    this.#lastPurge = Date.now();
    this.purge().catch((err) =>
      this.#config.logger.warn("purge of expired sessions failed", describeError(err)),
    );
  }

  /** Purges expired sessions and keys past retention. */
  async purge(): Promise<void> {
    const t = now();
    await this.#db(async (store) => {
      await store.purgeExpired(t);
      await store.deleteSigningKeys(
        t - this.#config.brokerTokenTtlSec - this.#config.clockToleranceSec,
      );
    });
  }

  async close(): Promise<void> {
    const store = await this.#store?.catch(() => undefined);
    if (store && store !== this.#config.brokerStore) await store.close();
  }
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Identifiers are validated before they reach the store. */
function isSessionId(value: unknown): value is string {
  return typeof value === "string" && SESSION_ID.test(value);
}

/** RFC 6749 §5.2: `invalid_grant` is a 400, like every error of the token endpoint but `invalid_client`. */
function invalidGrant(): OIDCAuthError {
  return badRequest("invalid_grant", "The refresh token is invalid, expired or revoked.");
}

function answer(
  token: string,
  expiresIn: number,
  scope: string,
  refresh: string,
  refreshExpires: number,
): TokenAnswer {
  const t = now();
  return {
    access_token: token,
    token_type: "Bearer",
    expires: t + expiresIn,
    expires_in: expiresIn,
    refresh_token: refresh,
    refresh_expires: refreshExpires,
    scope,
  };
}

/** A store whose every method waits for the real store to open. */
function lazyStoreProxy(open: () => Promise<BrokerStore>): BrokerStore {
  return new Proxy({} as BrokerStore, {
    get:
      (_target, method: keyof BrokerStore) =>
      async (...args: unknown[]) => {
        const store = await open();
        return (store[method] as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      },
  });
}
