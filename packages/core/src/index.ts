export type { BrokerAlgorithm } from "./broker/keys.js";
export { MemoryBrokerStore } from "./broker/memory-store.js";
export type { TrustedIssuer } from "./broker/peer-policy.js";
export type {
  BrokerStore,
  NativeLoginRecord,
  PeerJwksRecord,
  RotationOutcome,
  SessionChanges,
  SessionRecord,
  SigningKeyRecord,
} from "./broker/store.js";
export type { IDToken } from "./claims.js";
export type {
  ClaimConstraints,
  ClaimValue,
  EndpointName,
  OIDCAuthOptions,
  ResolvedClaimConstraints,
  ResolvedConfig,
} from "./config.js";
export { ConfigError, DEFAULT_ROUTES } from "./config.js";
export type { AuthenticateOptions } from "./context.js";
export type { DeferredOptions, EnvRecord } from "./deferred.js";
export { DeferredOIDCAuth, runtimeEnv } from "./deferred.js";
export type { IdpFailureDiagnosis } from "./diagnostics.js";
export { diagnoseDiscoveryFailure, diagnoseKeySetFailure } from "./diagnostics.js";
export { envName, optionsFromEnv } from "./env.js";
export { errorResponse, OIDCAuthError } from "./errors.js";
export type { RouteGuard } from "./guard.js";
export { BACKCHANNEL_LOGOUT_EVENT } from "./handlers/backchannel-logout.js";
export type { TokenExchangeAnswer } from "./handlers/token-exchange.js";
export type { UserInfoAnswer } from "./handlers/userinfo.js";
export type { Logger } from "./log.js";
export { consoleLogger, silentLogger } from "./log.js";
export type {
  BrokerUser,
  HandleEndpointOptions,
  HandleRequestOptions,
} from "./oidc-auth.js";
export { isBrowserNavigation, OIDCAuth } from "./oidc-auth.js";
export type { DeviceAuthorization } from "./provider.js";
export type {
  BucketOption,
  EndpointRateLimitOptions,
  RateLimitedEndpoint,
  RateLimitOptions,
} from "./rate-limits.js";
export { DEFAULT_RATE_LIMITS } from "./rate-limits.js";
export type { HealthCheck, HealthReport } from "./readiness.js";
export { healthResponse, NotReadyError } from "./readiness.js";
export type { TokenAnswer } from "./responses.js";
export { normalisePrefix } from "./router.js";
export type { ParsedSetCookie } from "./session-cookie.js";
export { parseSetCookie, withSetCookies } from "./session-cookie.js";
export type { BrowserSession } from "./sessions.js";
export type { TokenBucketLimit, TokenTaken } from "./token-bucket.js";
export type { TokenCacheStats } from "./token-cache.js";
