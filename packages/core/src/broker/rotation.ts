import { jwtVerify } from "jose";
import * as oauth from "oauth4webapi";
import type { ResolvedConfig } from "../config.js";
import {
  badRequest,
  OIDCAuthError,
  storeUnavailable,
  upstreamInvalid,
  upstreamUnavailable,
} from "../errors.js";
import { describeError } from "../log.js";
import type { IdentityProvider } from "../provider.js";
import type { TokenAnswer } from "../responses.js";
import { Sealer } from "../seal.js";
import type { AccessTokenVerifier } from "../verify.js";
import type { AtRest } from "./at-rest.js";
import type { BrokerIdentity } from "./identity.js";
import { identityFromTokens } from "./identity.js";
import type { BrokerStore, RotationOutcome, SessionRecord } from "./store.js";

export const now = () => Math.floor(Date.now() / 1000);
const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** RFC 6749 §5.2: `invalid_grant` is a 400, like every error of the token endpoint but `invalid_client`. */
export function invalidGrant(): OIDCAuthError {
  return badRequest("invalid_grant", "The refresh token is invalid, expired or revoked.");
}

/** 503 for a refresh that another instance is still working on: nothing changed, retry. */
function rotationBusy(): OIDCAuthError {
  return new OIDCAuthError(
    503,
    "temporarily_unavailable",
    "The refresh token is being refreshed right now. Try again shortly.",
    { "Retry-After": "2" },
  );
}

/** The answer of a token request that carries a broker refresh credential. */
export function tokenAnswer(
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

/** What the rotation needs from the broker. */
export interface RotationContext {
  config: ResolvedConfig;
  provider: IdentityProvider;
  idpVerifier: AccessTokenVerifier;
  rolePaths: readonly string[];
  /** Seals IdP refresh tokens at rest. */
  idpRefreshTokens: AtRest;
  /** Seals IdP access tokens at rest (sessions without an IdP refresh token). */
  idpAccessTokens: AtRest;
  /** Runs store work; an unreachable store is a 503. */
  db<T>(work: (store: BrokerStore) => Promise<T>): Promise<T>;
  mint(
    identity: BrokerIdentity,
    scope: string,
    sessionId: string,
  ): Promise<{ token: string; expiresIn: number }>;
  /** Ends a session: deletes it and revokes its IdP refresh token. */
  endSession(session: SessionRecord): Promise<void>;
}

/**
 * The lifetime a session may reach from `at`: the absolute maximum from its creation, the
 * idle limit from its last use, and, without an IdP refresh token, the IdP access token's
 * expiry (the IdP is not asked again after that, so the session may not outlive it).
 */
export function sessionExpiry(
  config: ResolvedConfig,
  createdAt: number,
  at: number,
  idpAccessExpiresAt: number | null | undefined,
): number {
  let expiry = Math.min(createdAt + config.sessionMaxAgeSec, at + config.sessionIdleSec);
  if (idpAccessExpiresAt !== undefined) {
    expiry = Math.min(expiry, idpAccessExpiresAt ?? at + config.brokerTokenTtlSec);
  }
  return expiry;
}

/** When an IdP token answer's access token expires (absent `expires_in`: a broker token's lifetime). */
export function idpAccessExpiry(config: ResolvedConfig, tokens: oauth.TokenEndpointResponse) {
  const expiresIn = tokens.expires_in;
  return (
    now() + (typeof expiresIn === "number" && expiresIn > 0 ? expiresIn : config.brokerTokenTtlSec)
  );
}

/**
 * Verifies the signature of an ID token the IdP's token endpoint returned (claims and
 * nonce are oauth4webapi's); a `kid` the cached keys lack fetches the IdP's keys at once.
 */
export async function verifyIdTokenSignature(
  config: ResolvedConfig,
  verifier: AccessTokenVerifier,
  tokens: oauth.TokenEndpointResponse,
): Promise<void> {
  if (!tokens.id_token) return;
  const keys = await verifier.keySet();
  try {
    await jwtVerify(tokens.id_token, keys.resolveFromTokenEndpoint, {
      algorithms: config.algorithms,
      clockTolerance: config.clockToleranceSec,
    });
  } catch (err) {
    if (err instanceof OIDCAuthError) throw err;
    config.logger.warn("ID token signature rejected", describeError(err));
    throw badRequest("invalid_grant", "The identity provider's ID token is invalid.");
  }
}

const POLL_MS = 100;

/**
 * The refresh state machine of broker sessions, safe across instances on one store.
 *
 * A session's current credential is rotated under a lease: the instance that claims it
 * (one conditional UPDATE) asks the IdP, then completes the rotation in one conditional
 * UPDATE that replaces the credential, appends the old one to the session's retired
 * credentials and stores the answer, sealed under the old credential. Until then the old
 * credential stays current, so a rotation that fails or is abandoned (the instance dies)
 * changes nothing: its lease is given back, or runs out, and a retry rotates afresh.
 * Refreshes that arrive while the lease is held wait for the answer and share it.
 *
 * Once replaced, a credential gets the stored answer again only within
 * `refreshReuseGraceSec` of when the answer was stored (a retry after a lost response);
 * after that, or for any earlier credential of the session, it is reuse: the whole session
 * is revoked.
 */
export class SessionRotation {
  readonly #ctx: RotationContext;
  /** In-process single flight: concurrent refreshes of one credential share one rotation. */
  readonly #refreshing = new Map<string, Promise<TokenAnswer>>();

  constructor(ctx: RotationContext) {
    this.#ctx = ctx;
  }

  /** How long a rotation may hold its lease: an IdP refresh, a userinfo, a key fetch, the write. */
  get leaseSec(): number {
    return Math.ceil((3 * this.#ctx.config.timeoutMs) / 1000) + 3;
  }

  /** Refresh with a broker refresh credential. */
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
    const ctx = this.#ctx;
    // A refresh waits for another's rotation at most as long as that rotation may take.
    const deadline = Date.now() + (this.leaseSec + 1) * 1000;
    let waited = false;
    for (;;) {
      const session = await ctx.db((store) => store.findSessionByRefreshHash(hash));
      if (!session) throw invalidGrant();
      const t = now();
      if (session.expiresAt <= t) {
        await ctx.db((store) => store.deleteSession(session.id));
        throw invalidGrant();
      }
      if (session.refreshHash === hash) {
        const lease = crypto.randomUUID();
        const claimed = await ctx.db((store) =>
          store.claimRotation(session.id, hash, lease, t + this.leaseSec, t),
        );
        if (claimed) return this.#rotate(session, credential, hash, lease);
        // Another refresh of this credential (here or on another instance) holds the lease.
        if (Date.now() >= deadline) throw rotationBusy();
        waited = true;
        await new Promise((r) => setTimeout(r, POLL_MS));
        continue;
      }
      if (session.previousHash === hash && session.rotationAnswer && session.rotatedAt !== null) {
        // A refresh that overlapped the rotation, or a retry within the grace after it.
        const grace = ctx.config.refreshReuseGraceSec;
        const sinceAnswer = t - session.rotatedAt;
        if ((waited && sinceAnswer <= this.leaseSec) || (grace > 0 && sinceAnswer <= grace)) {
          const shared = await new Sealer([credential], "rotation-answer").open(
            session.rotationAnswer,
          );
          if (shared) return shared as unknown as TokenAnswer;
        }
      }
      ctx.config.logger.warn("refresh credential reused: session revoked", {
        session: session.id,
      });
      await ctx.endSession(session);
      throw invalidGrant();
    }
  }

  /** One rotation under the lease; the lease is given back if it cannot complete. */
  async #rotate(
    session: SessionRecord,
    credential: string,
    hash: string,
    lease: string,
  ): Promise<TokenAnswer> {
    const ctx = this.#ctx;
    const release = () =>
      ctx
        .db((store) => store.releaseRotation(session.id, lease))
        .catch((err) =>
          ctx.config.logger.warn("could not give back a rotation lease", describeError(err)),
        );
    let outcome: Omit<RotationOutcome, "refreshHash" | "rotationAnswer" | "rotatedAt">;
    let identity: BrokerIdentity;
    try {
      ({ outcome, identity } = await this.#askIdp(session));
    } catch (err) {
      if (err instanceof SessionOver) {
        ctx.config.logger.info("the identity provider ended a broker session", {
          session: session.id,
          reason: err.reason,
        });
        await ctx.endSession(session);
        throw invalidGrant();
      }
      await release();
      throw err;
    }
    const next = oauth.generateRandomState();
    let result: TokenAnswer;
    let sealed: string;
    try {
      const minted = await ctx.mint(identity, outcome.scope, session.id);
      result = tokenAnswer(minted.token, minted.expiresIn, outcome.scope, next, outcome.expiresAt);
      sealed = await new Sealer([credential], "rotation-answer").seal({ ...result }, 120);
    } catch (err) {
      await release();
      throw err;
    }
    const rotation: RotationOutcome = {
      ...outcome,
      refreshHash: await sha256Hex(next),
      rotatedAt: now(),
      rotationAnswer: sealed,
    };
    // Retried briefly: the IdP may already have rotated its own refresh token.
    for (let attempt = 0; attempt < 3; attempt++) {
      let completed: boolean;
      try {
        completed = await ctx.db((store) =>
          store.completeRotation(session.id, hash, lease, rotation),
        );
      } catch (err) {
        if (!(err instanceof OIDCAuthError && err.status === 503)) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        continue;
      }
      if (completed) return result;
      // The lease ran out and another refresh took over: this answer was never stored.
      ctx.config.logger.warn("a rotation lost its lease before completing", {
        session: session.id,
      });
      throw rotationBusy();
    }
    await release();
    throw storeUnavailable();
  }

  /**
   * Renews a browser session at the IdP without rotating its credential (the cookie stays
   * the same): under the same lease as a rotation, so one instance asks the IdP while the
   * others keep serving the session as it is. Answers the session as renewed, the session
   * unchanged when another instance holds the lease, or undefined when the IdP ended it
   * (then it is deleted). A transient failure throws and changes nothing.
   */
  async renew(session: SessionRecord): Promise<SessionRecord | undefined> {
    const ctx = this.#ctx;
    const t = now();
    const lease = crypto.randomUUID();
    const claimed = await ctx.db((store) =>
      store.claimRotation(session.id, session.refreshHash, lease, t + this.leaseSec, t),
    );
    if (!claimed) return session;
    let outcome: Omit<RotationOutcome, "refreshHash" | "rotationAnswer" | "rotatedAt">;
    try {
      ({ outcome } = await this.#askIdp(session));
    } catch (err) {
      if (err instanceof SessionOver) {
        ctx.config.logger.info("the identity provider ended a browser session", {
          session: session.id,
          reason: err.reason,
        });
        await ctx.endSession(session);
        return undefined;
      }
      await ctx
        .db((store) => store.releaseRotation(session.id, lease))
        .catch((e) =>
          ctx.config.logger.warn("could not give back a renewal lease", describeError(e)),
        );
      throw err;
    }
    const changes = { ...outcome, rotationLease: null, rotationLeaseUntil: null };
    const updated = await ctx.db((store) =>
      store.updateSession(session.id, session.refreshHash, changes),
    );
    return updated ? { ...session, ...changes } : undefined;
  }

  /**
   * What the IdP says about the session now: with an IdP refresh token a refresh grant;
   * without one, userinfo with the IdP access token while it lives. Throws
   * {@link SessionOver} when the session must end, another error to keep it unchanged.
   */
  async #askIdp(session: SessionRecord): Promise<{
    outcome: Omit<RotationOutcome, "refreshHash" | "rotationAnswer" | "rotatedAt">;
    identity: BrokerIdentity;
  }> {
    const ctx = this.#ctx;
    const t = now();
    let identity = JSON.parse(session.claims) as BrokerIdentity;
    if (!session.idpRefreshToken) {
      await this.#revalidate(session);
      return {
        identity,
        outcome: {
          idpRefreshToken: null,
          idpAccessToken: session.idpAccessToken,
          idpAccessExpiresAt: session.idpAccessExpiresAt,
          claims: session.claims,
          scope: session.scope,
          expiresAt: sessionExpiry(ctx.config, session.createdAt, t, session.idpAccessExpiresAt),
        },
      };
    }
    const idpToken = await ctx.idpRefreshTokens.decrypt(session.idpRefreshToken);
    if (idpToken === undefined) {
      ctx.config.logger.error(
        "an IdP refresh token cannot be decrypted with the configured secrets",
      );
      throw storeUnavailable();
    }
    let tokens: oauth.TokenEndpointResponse | "invalid_grant";
    try {
      tokens = await ctx.provider.refreshSession(idpToken);
    } catch (err) {
      // Only the IdP's invalid_grant ends the session; its other refusals keep it.
      if (err instanceof OIDCAuthError && err.status < 500) throw upstreamInvalid();
      throw err instanceof OIDCAuthError ? err : upstreamUnavailable();
    }
    if (tokens === "invalid_grant") throw new SessionOver("invalid_grant");
    const idTokenClaims = oauth.getValidatedIdTokenClaims(tokens);
    // OpenID Connect Core §12.2: the refreshed ID token must name the same user.
    if (idTokenClaims && idTokenClaims.sub !== session.subject) {
      throw new SessionOver("another subject");
    }
    await verifyIdTokenSignature(ctx.config, ctx.idpVerifier, tokens).catch((err) => {
      throw err instanceof OIDCAuthError && err.status < 500 ? upstreamInvalid() : err;
    });
    const refreshed = await identityFromTokens(
      tokens,
      ctx.provider,
      ctx.idpVerifier,
      ctx.rolePaths,
    ).catch(() => undefined);
    if (refreshed && refreshed.sub === identity.sub) identity = refreshed;
    return {
      identity,
      outcome: {
        idpRefreshToken: tokens.refresh_token
          ? await ctx.idpRefreshTokens.encrypt(tokens.refresh_token)
          : session.idpRefreshToken,
        idpAccessToken: null,
        // Browser sessions renew shortly before it (see `renew`); refresh credentials ignore it.
        idpAccessExpiresAt: idpAccessExpiry(ctx.config, tokens),
        claims: JSON.stringify(identity),
        scope: tokens.scope ?? session.scope,
        expiresAt: sessionExpiry(ctx.config, session.createdAt, t, undefined),
      },
    };
  }

  /**
   * A session without an IdP refresh token: the IdP's userinfo must still know the user,
   * asked with the IdP access token of the login (the session expires with it). No answer
   * is a 503 (no new token, the session unchanged); another user is the session's end.
   */
  async #revalidate(session: SessionRecord): Promise<void> {
    const ctx = this.#ctx;
    const sealed = session.idpAccessToken;
    const accessToken = sealed ? await ctx.idpAccessTokens.decrypt(sealed) : undefined;
    if (!accessToken) {
      // Sessions of before this rule, or a secret that changed: nothing to ask the IdP with.
      throw new SessionOver("no IdP token to revalidate with");
    }
    const info = await ctx.provider.userinfo(accessToken);
    if (!info) throw upstreamUnavailable();
    if (info.sub !== session.subject) throw new SessionOver("another subject");
  }
}

/** The IdP says the session is over (thrown inside a rotation only). */
class SessionOver extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}
