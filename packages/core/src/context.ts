import type { Broker } from "./broker/broker.js";
import type { IDToken } from "./claims.js";
import type { ClaimConstraints, ResolvedConfig } from "./config.js";
import type { DevicePolls } from "./device-polls.js";
import type { SealedRefreshTokens } from "./passthrough-refresh.js";
import type { IdentityProvider } from "./provider.js";
import type { BrowserSessions } from "./sessions.js";
import type { Transactions } from "./transactions.js";
import type { AccessTokenVerifier } from "./verify.js";

/** Options of a guard. */
export interface AuthenticateOptions {
  /** Space-separated scopes that must all be in the token. */
  scopes?: string;
  /** Claim constraints on top of the configured ones (same key: this one wins). */
  claims?: ClaimConstraints;
  /** Answer `null` instead of failing. */
  optional?: boolean;
  /**
   * What authenticates a request: a bearer token, the browser session cookie, or either
   * (`"both"`, the default; a request with an `Authorization` header is judged by it alone).
   * Unsafe methods authenticated by the cookie must come from the app's own origin.
   */
  accept?: "bearer" | "session" | "both";
  /**
   * Page guards (adapters): a browser navigation without credentials is redirected to the
   * login (`loginPath`) and back, instead of a 401. Other requests still get 401 JSON.
   */
  redirectToLogin?: boolean;
}

/** What every endpoint handler works with. */
export interface AuthContext {
  readonly config: ResolvedConfig;
  readonly provider: IdentityProvider;
  readonly verifier: AccessTokenVerifier;
  readonly transactions: Transactions;
  /** The device flow's polling rules (alphabet, interval), checked before the IdP is asked. */
  readonly devicePolls: DevicePolls;
  /** Passthrough mode: seals the IdP refresh tokens handed out, opens those posted back. */
  readonly refreshTokens: SealedRefreshTokens;
  /** Present in broker mode. */
  readonly broker: Broker | undefined;
  /** Browser sessions (cookies). */
  readonly sessions: BrowserSessions;
  /** The guard with the configured constraints: the request's token (throws 401/403/503). */
  requireToken(request: Request): Promise<IDToken>;
}

/** An endpoint: Request in, Response out; failures are thrown as OIDCAuthError. */
export type EndpointHandler = (ctx: AuthContext, request: Request) => Promise<Response>;
