import { base64url } from "jose";
import * as oauth from "oauth4webapi";
import type { Broker } from "./broker/broker.js";
import type { BrokerIdentity } from "./broker/identity.js";
import { sha256Hex, verifyIdTokenSignature } from "./broker/rotation.js";
import type { SessionRecord } from "./broker/store.js";
import type { IDToken } from "./claims.js";
import { toIDToken } from "./claims.js";
import type { ResolvedConfig } from "./config.js";
import { OIDCAuthError, upstreamUnavailable } from "./errors.js";
import { ExpiringMap } from "./expiring-set.js";
import { describeError } from "./log.js";
import type { IdentityProvider } from "./provider.js";
import { macKey, Sealer } from "./seal.js";
import { appOrigin, SessionCookie } from "./session-cookie.js";
import type { AccessTokenVerifier } from "./verify.js";

/** The user of a browser session, as guards and `auth.session()` hand it to the app. */
export interface BrowserSession {
  /**
   * The user's claims, as a guard hands them to a route (roles flattened). In broker mode
   * the identity the broker keeps (what its tokens carry), with `sid` = the session; in
   * passthrough mode the verified claims of the IdP's access token.
   */
  readonly token: IDToken;
  /**
   * The session's anti-CSRF token, for requests that send no `Origin` header: a form field
   * `csrf_token` of the logout form, or an `X-CSRF-Token` header. Not a secret from the
   * page (render it into the page); useless without the session cookie.
   */
  readonly csrfToken: string;
  /** Unix seconds: when the session ends at the latest (a logout or the IdP may end it sooner). */
  readonly expiresAt: number;
}

/** Passthrough mode: what the sealed cookie holds. */
interface PassthroughState {
  /** Random id of the session (the CSRF token is bound to it). */
  i: string;
  /** IdP access token. */
  a: string;
  /** IdP refresh token. */
  r?: string | undefined;
  /** When the access token expires (unix s). */
  e: number;
  /** The user (`sub`). */
  s: string;
  /** The IdP's login session (`sid` of the ID token). */
  d?: string | undefined;
  /** When the user logged in (unix s). */
  t: number;
  /** When the session ends at the latest (unix s). */
  x: number;
}

/** A browser session is renewed this long before the IdP's access token expires. */
const RENEW_BEFORE_SEC = 15;
/** A refreshed passthrough session is handed to requests still carrying the old cookie for this long. */
const SUCCESSOR_MS = 60_000;
const MAX_TRACKED = 10_000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const now = () => Math.floor(Date.now() / 1000);

function cookieError(): OIDCAuthError {
  return new OIDCAuthError(
    403,
    "invalid_request",
    "Cross-site requests authenticated by the session cookie are refused.",
  );
}

/**
 * Browser sessions (backend-for-frontend): the login of a browser ends in an `HttpOnly`
 * cookie, and requests carrying it are authenticated without any token reaching page
 * JavaScript.
 *
 * - Broker mode: the cookie is sealed and holds only the session's id and a credential
 *   whose hash the store keeps; the session (identity, IdP tokens) stays in the store and
 *   is renewed at the IdP under the store's lease, once for every instance.
 * - Passthrough mode: the cookie holds the IdP tokens, sealed (encrypted and authenticated
 *   with the instance secret), split across cookies when large; renewed at the IdP once
 *   per instance (single flight), and requests still carrying the replaced cookie get the
 *   renewed session for a minute.
 *
 * A cookie that does not open (tampered, foreign secret, expired) is an anonymous request
 * whose response clears it. The Set-Cookie values a request needs are collected per
 * request and handed to adapters by {@link responseCookies}.
 */
export class BrowserSessions {
  readonly #config: ResolvedConfig;
  readonly #provider: IdentityProvider;
  readonly #idpVerifier: AccessTokenVerifier;
  readonly #broker: Broker | undefined;
  readonly #verifyAccessToken: (token: string) => Promise<IDToken>;
  readonly #rolePaths: string[];
  readonly #cookie: SessionCookie;
  readonly #sealer: Sealer;
  readonly #csrfKey: Promise<CryptoKey>;
  readonly #cookies = new WeakMap<Request, string[]>();
  /** One lookup per request: the guard's and the route's `session()` share it. */
  readonly #lookups = new WeakMap<Request, Promise<BrowserSession | undefined>>();
  readonly #refreshing = new Map<string, Promise<PassthroughState | undefined>>();
  readonly #successors = new ExpiringMap<PassthroughState>(MAX_TRACKED);
  /**
   * Logouts heard by this instance: `sid:<sid>` / `sub:<sub>` from the IdP, `id:<session>`
   * from the logout endpoint (passthrough) → when (unix s).
   */
  readonly #loggedOut = new ExpiringMap<number>(MAX_TRACKED);

  constructor(deps: {
    config: ResolvedConfig;
    secrets: readonly string[];
    provider: IdentityProvider;
    idpVerifier: AccessTokenVerifier;
    broker: Broker | undefined;
    verifyAccessToken: (token: string) => Promise<IDToken>;
  }) {
    const { config } = deps;
    this.#config = config;
    this.#provider = deps.provider;
    this.#idpVerifier = deps.idpVerifier;
    this.#broker = deps.broker;
    this.#verifyAccessToken = deps.verifyAccessToken;
    this.#rolePaths = config.roleClaims.map((p) => p.replaceAll("{clientId}", config.clientId));
    this.#cookie = new SessionCookie(config);
    this.#sealer = new Sealer(deps.secrets, "browser-session");
    this.#csrfKey = macKey(deps.secrets, "browser-session-csrf");
  }

  /** Whether the request carries a session cookie (valid or not). */
  present(request: Request): boolean {
    return this.#cookie.present(request);
  }

  /** The Set-Cookie values collected for this request (renewed or cleared session cookies). */
  responseCookies(request: Request): string[] {
    return this.#cookies.get(request) ?? [];
  }

  #collect(request: Request, values: readonly string[]): void {
    this.#cookies.set(request, [...this.responseCookies(request), ...values]);
  }

  /**
   * After a browser login's code exchange: starts the session and answers the Set-Cookie
   * values that carry it (also collected for the request).
   */
  async start(request: Request, tokens: oauth.TokenEndpointResponse): Promise<string[]> {
    const t = now();
    let sealed: string;
    let lifetime: number;
    if (this.#broker) {
      const session = await this.#broker.loginBrowser(tokens);
      lifetime = session.expiresAt - t;
      sealed = await this.#sealer.seal(
        { k: "b", s: session.sessionId, c: session.credential },
        lifetime,
      );
    } else {
      await verifyIdTokenSignature(this.#config, this.#idpVerifier, tokens);
      const claims = oauth.getValidatedIdTokenClaims(tokens);
      const token = await this.#verifyAccessToken(tokens.access_token);
      const sub = claims?.sub ?? token.sub;
      const sid = typeof claims?.sid === "string" ? claims.sid : undefined;
      const accessExpiry = accessExpiryOf(tokens, token, t);
      let end = t + this.#config.sessionMaxAgeSec;
      if (!tokens.refresh_token) end = Math.min(end, accessExpiry);
      else if (typeof tokens.refresh_expires_in === "number" && tokens.refresh_expires_in > 0) {
        end = Math.min(end, t + tokens.refresh_expires_in);
      }
      const state: PassthroughState = {
        i: oauth.generateRandomState(),
        a: tokens.access_token,
        r: tokens.refresh_token,
        e: accessExpiry,
        s: sub,
        d: sid,
        t,
        x: end,
      };
      lifetime = end - t;
      sealed = await this.#sealPassthrough(state);
    }
    const cookies = this.#cookie.write(request, sealed, lifetime);
    this.#collect(request, cookies);
    return cookies;
  }

  /**
   * The request's session, renewed at the IdP when its access token is about to expire.
   * Undefined without a usable one (its cookie is then cleared). Throws a 503
   * {@link OIDCAuthError} when the store or the IdP cannot be reached and nothing valid can
   * be served: the session is kept for the next request. Looked up once per request: later
   * calls with the same Request share the answer.
   */
  lookup(request: Request): Promise<BrowserSession | undefined> {
    let lookup = this.#lookups.get(request);
    if (!lookup) {
      lookup = this.#lookup(request);
      this.#lookups.set(request, lookup);
      // A failure (503) is not remembered: a retry with the same request asks again.
      lookup.catch(() => this.#lookups.delete(request));
    }
    return lookup;
  }

  async #lookup(request: Request): Promise<BrowserSession | undefined> {
    const value = this.#cookie.read(request);
    if (value === undefined) {
      if (this.#cookie.present(request)) this.#collect(request, this.#cookie.clear(request));
      return undefined;
    }
    const payload = await this.#sealer.open(value, 8 * 4096);
    // A broker session reaching an instance without the store (a Next.js edge route): not
    // readable here, but valid where the store is, so it is left alone.
    if (payload?.k === "b" && !this.#broker) return undefined;
    const session =
      payload?.k === "b"
        ? await this.#brokerSession(payload)
        : payload?.k === "p"
          ? await this.#passthroughSession(request, payload)
          : undefined;
    if (!session) this.#collect(request, this.#cookie.clear(request));
    return session;
  }

  async #brokerSession(payload: Record<string, unknown>): Promise<BrowserSession | undefined> {
    const { s, c } = payload;
    if (!this.#broker || typeof s !== "string" || typeof c !== "string") return undefined;
    const session = await this.#broker.browserSession(s, c);
    if (!session) return undefined;
    return {
      token: this.#brokerToken(session),
      csrfToken: await this.#csrfToken(session.id),
      expiresAt: session.expiresAt,
    };
  }

  #brokerToken(session: SessionRecord): IDToken {
    const { roleSources, ...identity } = JSON.parse(session.claims) as BrokerIdentity;
    return toIDToken(
      {
        ...roleSources,
        ...identity,
        scope: session.scope,
        sid: session.id,
        iss: this.#config.brokerIssuer,
        aud: this.#config.brokerAudience,
        iat: session.createdAt,
        exp: session.expiresAt,
      },
      this.#rolePaths,
    );
  }

  async #passthroughSession(
    request: Request,
    payload: Record<string, unknown>,
  ): Promise<BrowserSession | undefined> {
    if (this.#broker) return undefined;
    let state: PassthroughState | undefined = passthroughState(payload);
    if (!state || this.#endedByLogout(state)) return undefined;
    const t = now();
    if (state.x <= t) return undefined;
    if (t >= state.e - RENEW_BEFORE_SEC) {
      if (!state.r) {
        if (t >= state.e) return undefined;
      } else {
        const before = state;
        try {
          state = await this.#renewPassthrough(state);
        } catch (err) {
          // The IdP cannot be asked now: serve the session while its token lives, else 503.
          if (t >= before.e) throw err instanceof OIDCAuthError ? err : upstreamUnavailable();
          this.#config.logger.warn(
            "a browser session could not be renewed now",
            describeError(err),
          );
        }
        if (!state) return undefined;
        if (state !== before) {
          this.#collect(
            request,
            this.#cookie.write(request, await this.#sealPassthrough(state), state.x - t),
          );
        }
      }
    }
    let token: IDToken;
    try {
      token = await this.#verifyAccessToken(state.a);
    } catch (err) {
      if (err instanceof OIDCAuthError && err.status >= 500) throw err;
      return undefined;
    }
    return { token, csrfToken: await this.#csrfToken(state.i), expiresAt: state.x };
  }

  #sealPassthrough(state: PassthroughState): Promise<string> {
    return this.#sealer.seal({ k: "p", ...state }, Math.max(1, state.x - now()));
  }

  /** One IdP refresh per cookie in this process; later requests with the old cookie share it. */
  async #renewPassthrough(state: PassthroughState): Promise<PassthroughState | undefined> {
    // Keyed by the cookie's access token: a request still carrying the replaced cookie gets
    // its successor, while the renewed cookie (a new access token) is renewed in its turn,
    // even where the IdP keeps the refresh token the same.
    const key = await sha256Hex(state.a);
    const done = this.#successors.get(key);
    if (done) return done;
    let running = this.#refreshing.get(key);
    if (!running) {
      running = this.#refreshAtIdp(state).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, running);
    }
    const renewed = await running;
    if (renewed) this.#successors.set(key, renewed, Date.now() + SUCCESSOR_MS);
    return renewed;
  }

  async #refreshAtIdp(state: PassthroughState): Promise<PassthroughState | undefined> {
    const tokens = await this.#provider.refreshSession(state.r as string);
    if (tokens === "invalid_grant") {
      this.#config.logger.info("the identity provider ended a browser session");
      return undefined;
    }
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    if (claims && claims.sub !== state.s) return undefined; // OIDC Core §12.2
    await verifyIdTokenSignature(this.#config, this.#idpVerifier, tokens);
    const token = await this.#verifyAccessToken(tokens.access_token).catch(() => undefined);
    if (!token || token.sub !== state.s) return undefined;
    return {
      ...state,
      a: tokens.access_token,
      r: tokens.refresh_token ?? state.r,
      e: accessExpiryOf(tokens, token, now()),
    };
  }

  /**
   * Whether an unsafe request authenticated by this session may proceed: sent from the
   * app's own origin (`Sec-Fetch-Site: same-origin`, else an `Origin` equal to the app's),
   * or carrying the session's CSRF token (`X-CSRF-Token`, or `formToken` from a form field).
   * Safe methods always may.
   */
  async allows(request: Request, session: BrowserSession, formToken?: string): Promise<boolean> {
    if (SAFE_METHODS.has(request.method)) return true;
    const site = request.headers.get("sec-fetch-site");
    if (site !== null) {
      if (site === "same-origin") return true;
    } else {
      const origin = request.headers.get("origin");
      if (origin !== null && origin === appOrigin(this.#config, request)) return true;
    }
    const token = request.headers.get("x-csrf-token") ?? formToken;
    return token !== undefined && token !== null && (await sameText(token, session.csrfToken));
  }

  /** Throws 403 unless {@link allows}. */
  async requireAllowed(
    request: Request,
    session: BrowserSession,
    formToken?: string,
  ): Promise<void> {
    if (!(await this.allows(request, session, formToken))) throw cookieError();
  }

  /**
   * Logout: ends the request's session (in the store, and its IdP refresh token revoked)
   * and collects the Set-Cookie values that clear it. Answers false when the request has
   * no session to end.
   */
  async end(request: Request, formToken?: string): Promise<boolean> {
    const session = await this.lookup(request);
    if (!session) return false;
    await this.requireAllowed(request, session, formToken);
    const value = this.#cookie.read(request);
    const payload = value ? await this.#sealer.open(value, 8 * 4096) : undefined;
    if (this.#broker && payload?.k === "b") {
      await this.#broker.endBrowserSession(String(payload.s), String(payload.c));
    } else if (payload?.k === "p") {
      const state = passthroughState(payload);
      if (state?.r) await this.#provider.revoke(state.r);
      if (state) {
        this.#successors.take(await sha256Hex(state.a));
        // The sealed cookie stays readable: a copy replayed here is refused from now on
        // (elsewhere it ends at its next renewal, the refresh token being revoked).
        this.#loggedOut.set(`id:${state.i}`, now(), state.x * 1000);
      }
    }
    this.#collect(request, this.#cookie.clear(request));
    this.#lookups.set(request, Promise.resolve(undefined));
    return true;
  }

  /**
   * Back-channel logout heard by this instance: sessions of that IdP login (`sid`), or of
   * the user (`sub`), end. Broker mode deletes them from the store (every instance); in
   * passthrough mode the sealed cookies of those logins are refused from now on by this
   * instance (their IdP refresh tokens, ended at the IdP, stop every other instance at the
   * next renewal).
   */
  async endByIdp(target: { sid?: string | undefined; sub?: string | undefined }): Promise<number> {
    const t = now();
    const until = Date.now() + this.#config.sessionMaxAgeSec * 1000;
    if (target.sid) this.#loggedOut.set(`sid:${target.sid}`, t, until);
    else if (target.sub) this.#loggedOut.set(`sub:${target.sub}`, t, until);
    return this.#broker ? this.#broker.endIdpSessions(target) : 0;
  }

  #endedByLogout(state: PassthroughState): boolean {
    if (this.#loggedOut.get(`id:${state.i}`) !== undefined) return true;
    const bySid = state.d === undefined ? undefined : this.#loggedOut.get(`sid:${state.d}`);
    const bySub = this.#loggedOut.get(`sub:${state.s}`);
    return (bySid !== undefined && bySid >= state.t) || (bySub !== undefined && bySub >= state.t);
  }

  async #csrfToken(binding: string): Promise<string> {
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#csrfKey,
      new TextEncoder().encode(`csrf:${binding}`),
    );
    return base64url.encode(new Uint8Array(mac));
  }
}

/** The passthrough state in an opened cookie, if it has every field with the right type. */
function passthroughState(payload: Record<string, unknown>): PassthroughState | undefined {
  const { i, a, r, e, s, d, t, x } = payload;
  if (typeof i !== "string" || typeof a !== "string" || typeof s !== "string") return undefined;
  if (typeof e !== "number" || typeof t !== "number" || typeof x !== "number") return undefined;
  if (r !== undefined && typeof r !== "string") return undefined;
  if (d !== undefined && typeof d !== "string") return undefined;
  return { i, a, r, e, s, d, t, x };
}

/** When an IdP access token expires: `expires_in`, else its `exp`, else in five minutes. */
function accessExpiryOf(tokens: oauth.TokenEndpointResponse, token: IDToken, t: number): number {
  if (typeof tokens.expires_in === "number" && tokens.expires_in > 0) return t + tokens.expires_in;
  return typeof token.exp === "number" ? token.exp : t + 300;
}

/** Constant-time comparison of two texts (through their hashes). */
async function sameText(a: string, b: string): Promise<boolean> {
  if (a.length > 256) return false;
  return (await sha256Hex(a)) === (await sha256Hex(b));
}
