import * as oauth from "oauth4webapi";
import { MemoryBrokerStore } from "./broker/memory-store.js";
import type { BrokerStore } from "./broker/store.js";
import type { ResolvedConfig } from "./config.js";
import { badRequest, OIDCAuthError, storeUnavailable, tooManyRequests } from "./errors.js";
import { ExpiringMap } from "./expiring-set.js";
import { describeError } from "./log.js";
import { Sealer } from "./seal.js";

/** What a login must remember until its callback or token exchange. */
export interface LoginTransaction {
  /** Single-use id. */
  id: string;
  state: string;
  nonce: string;
  redirectUri: string;
  /** PKCE verifier; absent when the caller keeps its own. */
  verifier?: string;
  /**
   * A browser-session login: the same-origin path the browser returns to once the session
   * cookie is set (the callback then redirects instead of answering with tokens).
   */
  returnTo?: string;
}

const COOKIE_NAME = "oidc_auth_tx";
/**
 * Over https the cookie carries the `__Host-` prefix: browsers then accept it only with
 * `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant one (login CSRF).
 */
const HOST_COOKIE_NAME = `__Host-${COOKIE_NAME}`;
const MAX_PENDING = 10_000;

function randomId(): string {
  return oauth.generateRandomState();
}

/**
 * The login transaction store. Browser logins keep their transaction in a sealed, httpOnly,
 * SameSite=Lax cookie bound to `state`; native clients keep their own PKCE verifier and are
 * remembered by code challenge in the broker store (so that the code exchange may reach any
 * instance; without broker mode, in this process), at most `nativeLoginsPerClient` pending
 * per client address, never displacing another client's; py-oidc-auth-client (when
 * enabled) gets a sealed blob as the last `|` segment of `state`. Every transaction is
 * single-use and expires.
 */
export class Transactions {
  readonly #config: ResolvedConfig;
  readonly #sealer: Sealer;
  readonly #used = new ExpiringMap<true>(MAX_PENDING);
  readonly #nativeStore: () => Promise<BrokerStore>;
  #lastPurge = Date.now();

  /** `nativeStore`: where native logins wait (the broker store); default this process's memory. */
  constructor(
    config: ResolvedConfig,
    secrets: readonly string[],
    nativeStore?: () => Promise<BrokerStore>,
  ) {
    this.#config = config;
    this.#sealer = new Sealer(secrets, "login-transaction");
    if (nativeStore) {
      this.#nativeStore = nativeStore;
    } else {
      const memory = new MemoryBrokerStore();
      this.#nativeStore = async () => {
        // Expired logins leave memory at most a minute late.
        if (Date.now() - this.#lastPurge > 60_000) {
          this.#lastPurge = Date.now();
          await memory.purgeExpired(Math.floor(Date.now() / 1000));
        }
        return memory;
      };
    }
  }

  get ttlSec(): number {
    return this.#config.transactionTtlSec;
  }

  /** Starts a transaction with fresh state, nonce and (unless the caller has one) verifier. */
  async create(
    redirectUri: string,
    withVerifier: boolean,
    returnTo?: string,
  ): Promise<LoginTransaction> {
    const tx: LoginTransaction = {
      id: randomId(),
      state: oauth.generateRandomState(),
      nonce: oauth.generateRandomNonce(),
      redirectUri,
    };
    if (withVerifier) tx.verifier = oauth.generateRandomCodeVerifier();
    if (returnTo !== undefined) tx.returnTo = returnTo;
    if (this.#config.pyClientCompat && tx.verifier && returnTo === undefined) {
      tx.state = `${tx.state}|${await this.#sealer.seal(compact(tx), this.ttlSec)}`;
    }
    return tx;
  }

  /**
   * The Set-Cookie value that binds a browser login to this browser: `__Host-` prefixed and
   * `Secure` when the login is over https (the app's public URL `proxy` or the redirect
   * URI); the sealed content records it, so it is accepted under that name only.
   */
  async cookie(tx: LoginTransaction): Promise<string> {
    const secure = this.#overHttps(tx.redirectUri);
    const sealed = await this.#sealer.seal({ ...compact(tx), h: secure }, this.ttlSec);
    const name = secure ? HOST_COOKIE_NAME : COOKIE_NAME;
    return `${name}=${sealed}; Path=/; Max-Age=${this.ttlSec}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
  }

  /** The Set-Cookie value that removes the transaction cookie the request carries. */
  clearCookie(request: Request): string {
    if (readCookie(request.headers.get("cookie"), HOST_COOKIE_NAME) !== undefined) {
      return `${HOST_COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure`;
    }
    return `${COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`;
  }

  /**
   * The browser's transaction, if its cookie is intact, unexpired, matches `state` and
   * came under the name it was set with (an https login's only under `__Host-`).
   */
  async fromCookie(request: Request, state: string): Promise<LoginTransaction | undefined> {
    const header = request.headers.get("cookie");
    const prefixed = readCookie(header, HOST_COOKIE_NAME);
    const sealed = prefixed ?? readCookie(header, COOKIE_NAME);
    if (!sealed) return undefined;
    const payload = await this.#sealer.open(sealed);
    if (!payload || (payload.h === true) !== (prefixed !== undefined)) return undefined;
    const tx = expand(payload);
    return tx && tx.state === state ? tx : undefined;
  }

  /**
   * From configuration and the allow-listed redirect URI only, never from the request (an
   * adapter or proxy may present an http request as https and vice versa).
   */
  #overHttps(redirectUri: string): boolean {
    return redirectUri.startsWith("https:") || this.#config.proxy.startsWith("https:");
  }

  /** Opens py-oidc-auth-client's sealed `code_verifier` (compat mode only). */
  async fromCompatVerifier(blob: string): Promise<LoginTransaction | undefined> {
    if (!this.#config.pyClientCompat) return undefined;
    return expand(await this.#sealer.open(blob));
  }

  /**
   * Remembers a native client's login by its code challenge until its token exchange. A
   * challenge already pending is refused (400), so is a client with too many pending (429).
   */
  async rememberNative(codeChallenge: string, tx: LoginTransaction, client: string): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const answer = await this.#onStore((store) =>
      store.putNativeLogin(
        {
          codeChallenge,
          nonce: tx.nonce,
          redirectUri: tx.redirectUri,
          client,
          expiresAt: now + this.ttlSec,
        },
        // Without a known address every client shares one bound: the former global one.
        client === "" ? MAX_PENDING : this.#config.nativeLoginsPerClient,
        now,
      ),
    );
    if (answer === "duplicate") {
      throw badRequest("invalid_request", "A login with this code_challenge is already pending.");
    }
    if (answer === "limit") throw tooManyRequests(this.ttlSec);
  }

  /** Takes (single use) the native login whose challenge the posted verifier answers. */
  async takeNative(codeVerifier: string): Promise<Omit<LoginTransaction, "verifier"> | undefined> {
    const challenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
    const now = Math.floor(Date.now() / 1000);
    const login = await this.#onStore((store) => store.takeNativeLogin(challenge, now));
    if (!login) return undefined;
    return { id: challenge, state: "", nonce: login.nonce, redirectUri: login.redirectUri };
  }

  async #onStore<T>(work: (store: BrokerStore) => Promise<T>): Promise<T> {
    try {
      return await work(await this.#nativeStore());
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      this.#config.logger.error("native logins: the store failed", describeError(err));
      throw storeUnavailable();
    }
  }

  /** Marks a transaction used; false if it already was (replay). */
  consume(tx: LoginTransaction): boolean {
    return this.#used.add(tx.id, true, Date.now() + this.ttlSec * 1000);
  }
}

function compact(tx: LoginTransaction): Record<string, unknown> {
  return { i: tx.id, s: tx.state, n: tx.nonce, r: tx.redirectUri, v: tx.verifier, t: tx.returnTo };
}

function expand(payload: Record<string, unknown> | undefined): LoginTransaction | undefined {
  if (!payload) return undefined;
  const { i, s, n, r, v, t } = payload;
  if (typeof i !== "string" || typeof n !== "string" || typeof r !== "string") return undefined;
  const tx: LoginTransaction = {
    id: i,
    state: typeof s === "string" ? s : "",
    nonce: n,
    redirectUri: r,
  };
  if (typeof v === "string") tx.verifier = v;
  if (typeof t === "string") tx.returnTo = t;
  return tx;
}

/** One cookie's value from a Cookie header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
