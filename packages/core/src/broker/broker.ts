import { SignJWT } from "jose";
import * as oauth from "oauth4webapi";
import type { IDToken } from "../claims.js";
import type { ResolvedConfig } from "../config.js";
import { badRequest, OIDCAuthError, storeUnavailable } from "../errors.js";
import { describeError } from "../log.js";
import type { IdentityProvider } from "../provider.js";
import type { TokenAnswer } from "../responses.js";
import type { KeysRemovedListener } from "../token-cache.js";
import type { AccessTokenVerifier } from "../verify.js";
import { AtRest } from "./at-rest.js";
import { PeerKeys } from "./federation.js";
import type { BrokerIdentity } from "./identity.js";
import { identityFromTokens } from "./identity.js";
import { SigningKeys } from "./keys.js";
import { lazyStoreProxy, openStore } from "./open-store.js";
import {
  idpAccessExpiry,
  now,
  SessionRotation,
  sessionExpiry,
  sha256Hex,
  tokenAnswer,
  verifyIdTokenSignature,
} from "./rotation.js";
import type { BrokerStore, SessionRecord } from "./store.js";
import { BrokerTokenVerifier } from "./verify.js";

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
  readonly #idpAccessTokens: AtRest;
  readonly #rotation: SessionRotation;
  readonly keys: SigningKeys;
  readonly verifier: BrokerTokenVerifier;
  #store: Promise<BrokerStore> | undefined;

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
    this.#idpAccessTokens = new AtRest(secrets, "idp-access-token");
    const storeRef = () => this.store();
    const lazyStore = lazyStoreProxy(storeRef);
    this.keys = new SigningKeys({
      store: lazyStore,
      atRest: new AtRest(secrets, "signing-key"),
      algorithm: config.brokerAlgorithm,
      retentionSec: config.brokerTokenTtlSec + config.clockToleranceSec,
      rotationIntervalSec: config.keyRotationIntervalSec,
      // A sibling instance's new key is asked for at once (at most once a second): the store
      // is ours, unlike an IdP that the cooldown protects.
      reloadCooldownMs: Math.min(config.jwksCooldownMs, 1000),
      reloadIntervalMs: config.keyReloadSec * 1000,
      logger: config.logger,
      onKeysRemoved,
    });
    this.verifier = new BrokerTokenVerifier(
      config,
      config.brokerIssuer,
      this.keys,
      new PeerKeys(config, storeRef, onKeysRemoved),
    );
    this.#rotation = new SessionRotation({
      config,
      provider,
      idpVerifier,
      rolePaths: this.#rolePaths,
      idpRefreshTokens: this.#idpTokens,
      idpAccessTokens: this.#idpAccessTokens,
      db: (work) => this.#db(work),
      mint: (identity, scope, sessionId) => this.mint(identity, scope, sessionId),
      endSession: (session) => this.#endSession(session),
    });
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
    const credential = oauth.generateRandomState();
    const { session, identity } = await this.#newSession(tokens, await sha256Hex(credential));
    const { token, expiresIn } = await this.mint(identity, session.scope, session.id);
    return tokenAnswer(token, expiresIn, session.scope, credential, session.expiresAt);
  }

  /**
   * After a browser login at the IdP: a new session that the browser's cookie names. The
   * cookie's credential is stored hashed under its own domain (see {@link browserHash}), so
   * it never works as a refresh credential at the token endpoint, nor the reverse.
   */
  async loginBrowser(
    tokens: oauth.TokenEndpointResponse,
  ): Promise<{ sessionId: string; credential: string; expiresAt: number }> {
    const credential = oauth.generateRandomState();
    const { session } = await this.#newSession(tokens, await browserHash(credential));
    return { sessionId: session.id, credential, expiresAt: session.expiresAt };
  }

  /**
   * The browser session a cookie names, renewed at the IdP shortly before the IdP's access
   * token expires (one instance asks, under the rotation lease). Undefined when it does not
   * exist, does not match the credential, has expired or the IdP ended it. While the IdP
   * cannot be reached the session is served as it is, until it expires.
   */
  async browserSession(sessionId: string, credential: string): Promise<SessionRecord | undefined> {
    if (!isSessionId(sessionId)) return undefined;
    let session = await this.#db((store) => store.getSession(sessionId));
    if (!session || session.refreshHash !== (await browserHash(credential))) return undefined;
    const t = now();
    if (session.expiresAt <= t) {
      await this.#db((store) => store.deleteSession(sessionId));
      return undefined;
    }
    const renewAt = (session.idpAccessExpiresAt ?? Infinity) - RENEW_BEFORE_SEC;
    if (t >= renewAt && session.idpRefreshToken) {
      try {
        session = await this.#rotation.renew(session);
      } catch (err) {
        this.#config.logger.warn("a browser session could not be renewed now; served as it is", {
          session: sessionId,
          ...describeError(err),
        });
      }
    }
    return session;
  }

  /** Ends the browser session a cookie names (logout): deleted, its IdP refresh token revoked. */
  async endBrowserSession(sessionId: string, credential: string): Promise<void> {
    if (!isSessionId(sessionId)) return;
    const session = await this.#db((store) => store.getSession(sessionId));
    if (session && session.refreshHash === (await browserHash(credential))) {
      await this.#endSession(session);
    }
  }

  /**
   * Back-channel logout: ends the sessions of one IdP login session (`sid`), else of the
   * subject, on every instance sharing the store. Answers how many ended.
   */
  async endIdpSessions(target: {
    sid?: string | undefined;
    sub?: string | undefined;
  }): Promise<number> {
    const { sid, sub } = target;
    if (sid) return this.#db((store) => store.deleteSessionsOfIdpSession(sid));
    if (sub) return this.#db((store) => store.deleteSessionsOfSubject(sub));
    return 0;
  }

  /** Records a single-use id in the store (a logout token's jti); false if it was used. */
  async useOnce(id: string, expiresAt: number): Promise<boolean> {
    return this.#db((store) => store.useOnce(id, expiresAt, now()));
  }

  async #newSession(
    tokens: oauth.TokenEndpointResponse,
    refreshHash: string,
  ): Promise<{ session: SessionRecord; identity: BrokerIdentity }> {
    await verifyIdTokenSignature(this.#config, this.#idpVerifier, tokens);
    const identity = await identityFromTokens(
      tokens,
      this.#provider,
      this.#idpVerifier,
      this.#rolePaths,
    );
    if (!identity)
      throw badRequest("invalid_grant", "The identity provider did not identify the user.");
    const scope = tokens.scope ?? this.#config.scopes.join(" ");
    const created = now();
    // Without an IdP refresh token the IdP's access token is what revalidates the session.
    const withoutRefresh = !tokens.refresh_token;
    const idpAccessExpiresAt = idpAccessExpiry(this.#config, tokens);
    const session: SessionRecord = {
      id: crypto.randomUUID(),
      subject: identity.sub,
      refreshHash,
      previousHash: null,
      retiredHashes: [],
      rotatedAt: null,
      rotationAnswer: null,
      rotationLease: null,
      rotationLeaseUntil: null,
      idpRefreshToken: tokens.refresh_token
        ? await this.#idpTokens.encrypt(tokens.refresh_token)
        : null,
      idpAccessToken: withoutRefresh
        ? await this.#idpAccessTokens.encrypt(tokens.access_token)
        : null,
      idpAccessExpiresAt,
      idpSessionId: idpSessionOf(tokens),
      claims: JSON.stringify(identity),
      scope,
      createdAt: created,
      expiresAt: sessionExpiry(
        this.#config,
        created,
        created,
        withoutRefresh ? idpAccessExpiresAt : undefined,
      ),
    };
    await this.#db((store) => store.createSession(session));
    this.#purgeNowAndThen();
    return { session, identity };
  }

  /**
   * Refresh with a broker refresh credential (see {@link SessionRotation}): concurrent
   * refreshes of one credential share one rotation and one IdP call, on any instance; any
   * replaced credential used again revokes the session; a transient IdP or store failure
   * is a 503 and keeps the session as it was.
   */
  refresh(credential: string): Promise<TokenAnswer> {
    return this.#rotation.refresh(credential);
  }

  /** Ends a session: deleted here, its refresh token revoked at the IdP. */
  async #endSession(session: SessionRecord): Promise<void> {
    await this.#db((store) => store.deleteSession(session.id));
    await this.#revokeAtIdp(session);
  }

  /** Ends every session of a user (all their logins); answers how many. */
  async revokeSubject(subject: string): Promise<number> {
    return this.#db((store) => store.deleteSessionsOfSubject(subject));
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
    await this.#endSession(session);
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

/** The IdP's login session id: `sid` of the validated ID token, when it is a sane string. */
export function idpSessionOf(tokens: oauth.TokenEndpointResponse): string | null {
  const sid = oauth.getValidatedIdTokenClaims(tokens)?.sid;
  return typeof sid === "string" && sid.length > 0 && sid.length <= 255 ? sid : null;
}

/** A browser session is renewed this long before the IdP's access token expires. */
const RENEW_BEFORE_SEC = 15;

/** The stored hash of a browser session's credential: SHA-256 under its own domain. */
function browserHash(credential: string): Promise<string> {
  return sha256Hex(`browser-session:${credential}`);
}

const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Identifiers are validated before they reach the store. */
function isSessionId(value: unknown): value is string {
  return typeof value === "string" && SESSION_ID.test(value);
}
