import * as oauth from "oauth4webapi";
import type { ResolvedConfig } from "./config.js";
import { ConfigError } from "./config.js";
import type { IdpFailureDiagnosis } from "./diagnostics.js";
import { diagnoseDiscoveryFailure } from "./diagnostics.js";
import { badRequest, OIDCAuthError, upstreamInvalid, upstreamUnavailable } from "./errors.js";
import { describeError } from "./log.js";
import { isLoopbackHost, isTrustedJwksUri } from "./transport.js";

const WELL_KNOWN = "/.well-known/openid-configuration";

/** The options oauth4webapi's request functions share. */
interface RequestOptions {
  signal: () => AbortSignal;
  [oauth.customFetch]?: (url: string, init: RequestInit) => Promise<Response>;
  [oauth.allowInsecureRequests]?: boolean;
}

/** Device authorization as the `device` endpoint returns it (RFC 8628 §3.2). */
export interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

/** Device-flow polling errors passed to the client unchanged (RFC 8628 §3.5). */
const DEVICE_POLL_ERRORS = new Set([
  "authorization_pending",
  "slow_down",
  "expired_token",
  "access_denied",
]);

/**
 * Every call to the identity provider, through oauth4webapi. Discovery happens once (one
 * request in flight however many callers wait) and its result is kept; failures are not
 * kept, so the next request tries again.
 */
export class IdentityProvider {
  readonly #config: ResolvedConfig;
  readonly #client: oauth.Client;
  readonly #clientAuth: oauth.ClientAuth;
  readonly #issuerUrl: URL | undefined;
  #metadata: oauth.AuthorizationServer | undefined;
  /** The `issuer` the discovery document itself names (differs with the `issuer` override). */
  #documentIssuer: string | undefined;
  #pending: Promise<oauth.AuthorizationServer> | undefined;
  #lastFailure: { at: number; error: unknown } | undefined;
  #discoveryFailure: IdpFailureDiagnosis | undefined;

  constructor(config: ResolvedConfig) {
    this.#config = config;
    this.#client = { client_id: config.clientId, [oauth.clockTolerance]: config.clockToleranceSec };
    this.#clientAuth = !config.clientSecret
      ? oauth.None()
      : config.clientAuthMethod === "client_secret_post"
        ? oauth.ClientSecretPost(config.clientSecret)
        : oauth.ClientSecretBasic(config.clientSecret);
    if (config.discoveryUrl) {
      const url = new URL(config.discoveryUrl);
      if (!url.pathname.endsWith(WELL_KNOWN)) {
        throw new ConfigError(`discoveryUrl must end with ${WELL_KNOWN}.`);
      }
      url.pathname = url.pathname.slice(0, -WELL_KNOWN.length) || "/";
      this.#issuerUrl = new URL(url.href.replace(/\/$/, "") || url.href);
    }
  }

  get client(): oauth.Client {
    return this.#client;
  }

  /** Options every oauth4webapi request gets: timeout, custom fetch, http on loopback. */
  requestOptions(): RequestOptions {
    const timeoutMs = this.#config.timeoutMs;
    const options: RequestOptions = { signal: () => AbortSignal.timeout(timeoutMs) };
    if (this.#config.fetch) options[oauth.customFetch] = this.#config.fetch;
    if (this.#allowsHttp()) options[oauth.allowInsecureRequests] = true;
    return options;
  }

  #allowsHttp(): boolean {
    if (this.#config.allowInsecureRequests) return true;
    const url = this.#issuerUrl ?? (this.#config.issuer ? new URL(this.#config.issuer) : undefined);
    return url !== undefined && url.protocol === "http:" && isLoopbackHost(url.hostname);
  }

  /**
   * The IdP's metadata, discovered once; concurrent first callers share one request. A
   * failed discovery is not kept, but backs off: for the cooldown (`jwksCooldownSec`)
   * after it, callers get its error at once instead of waiting for another timeout.
   */
  async metadata(): Promise<oauth.AuthorizationServer> {
    if (this.#metadata) return this.#metadata;
    const failure = this.#lastFailure;
    if (failure && Date.now() - failure.at < this.#config.jwksCooldownMs) throw failure.error;
    this.#pending ??= this.#discover()
      .catch((err: unknown) => {
        this.#lastFailure = { at: Date.now(), error: err };
        throw err;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  async #discover(): Promise<oauth.AuthorizationServer> {
    const issuerUrl = this.#issuerUrl;
    if (!issuerUrl) {
      // Configuration refuses this (no endpoint that needs discovery runs without the URL).
      this.#config.logger.error("discovery needed without a discoveryUrl");
      throw upstreamInvalid();
    }
    const configured = this.#config.issuer;
    const document = await this.#call("discovery", async () => {
      try {
        const response = await oauth.discoveryRequest(issuerUrl, this.requestOptions());
        if (!configured) return await oauth.processDiscoveryResponse(issuerUrl, response);
        return await processDiscoveryWithIssuerOverride(response, new URL(configured), issuerUrl);
      } catch (err) {
        throw this.#discoveryFailed(err, issuerUrl);
      }
    });
    this.#documentIssuer = document.issuer;
    // A document naming another issuer than the configured one (fetched from an internal
    // address): the configured issuer is the IdP's identity everywhere oauth4webapi compares
    // one, RFC 9207 `iss` at the callback and the `iss` of ID tokens. Both come from the
    // IdP's public face (the browser's redirect, the tokens it issues), as do access tokens.
    const overridden = configured !== undefined && !sameUrl(document.issuer, configured);
    const metadata = overridden ? { ...document, issuer: configured } : document;
    this.#metadata = metadata;
    this.#discoveryFailure = undefined;
    return metadata;
  }

  /** Logs why discovery failed (URL and cause, see diagnostics.ts) and maps it to 503/502. */
  #discoveryFailed(err: unknown, expectedIssuer: URL): OIDCAuthError {
    if (err instanceof OIDCAuthError) return err;
    const diagnosis = diagnoseDiscoveryFailure(this.#config.discoveryUrl, err, {
      expectedIssuer: expectedIssuer.href,
      configuredIssuer: this.#config.issuer,
      timeoutSec: this.#config.timeoutMs / 1000,
    });
    this.#discoveryFailure = diagnosis;
    const { message, ...fields } = diagnosis;
    this.#config.logger.warn(message, fields);
    return diagnosis.transient || isNetworkError(err) ? upstreamUnavailable() : upstreamInvalid();
  }

  /** Why the last discovery failed, until one succeeds (for readiness checks). */
  get discoveryFailure(): IdpFailureDiagnosis | undefined {
    return this.#discoveryFailure;
  }

  /** Expected `iss` of IdP tokens, if known without a request (configured or discovered). */
  knownIssuer(): string | undefined {
    return this.#config.issuer ?? this.#metadata?.issuer;
  }

  /** Expected `iss` of IdP tokens. */
  async issuer(): Promise<string> {
    return this.#config.issuer ?? (await this.metadata()).issuer;
  }

  /**
   * The IdP's JWKS URI: the configured one, else the discovered one if it is on the
   * issuer's origin or a trusted one, over https (see `isTrustedJwksUri`); else 502.
   */
  async jwksUri(): Promise<string> {
    const config = this.#config;
    if (config.jwksUri) return config.jwksUri;
    const metadata = await this.metadata();
    const uri = this.#metadataUrl("jwks_uri", metadata.jwks_uri);
    // The document's own issuer, and with the override also the configured one: both are
    // origins the configuration vouches for (see processDiscoveryWithIssuerOverride).
    const issuers = new Set([this.#documentIssuer ?? metadata.issuer, metadata.issuer]);
    const trusted = [...issuers].some((issuer) =>
      isTrustedJwksUri(uri, issuer, config.trustedJwksOrigins, config.allowInsecureRequests),
    );
    if (!trusted) {
      config.logger.error(
        "the discovery document names a jwks_uri on another origin than the issuer, or over plain http: refused (configure jwksUri or trustedJwksOrigins if it is genuine)",
      );
      throw upstreamInvalid();
    }
    return uri.href;
  }

  /** A URL of the IdP's metadata; missing or unparsable is the IdP's fault: 502, never 500. */
  #metadataUrl(name: string, value: string | undefined): URL {
    if (value) {
      try {
        return new URL(value);
      } catch {
        // logged below
      }
    }
    this.#config.logger.warn(`the identity provider's ${name} is missing or not a URL`);
    throw upstreamInvalid();
  }

  /** Builds the authorization request URL (PKCE S256, state, nonce already chosen). */
  async authorizationUrl(params: Record<string, string>): Promise<URL> {
    const as = await this.metadata();
    const url = this.#metadataUrl("authorization_endpoint", as.authorization_endpoint);
    url.searchParams.set("client_id", this.#config.clientId);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("code_challenge_method", "S256");
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url;
  }

  /**
   * Checks the authorization response at our callback (oauth4webapi with the IdP's
   * metadata): `state`, and, when the IdP advertises RFC 9207
   * (`authorization_response_iss_parameter_supported`), an `iss` equal to its issuer, so a
   * response of another IdP (mix-up) or one stripped of `iss` is refused. Any failure is
   * a 400: the parameters come from the browser.
   */
  async validateCallback(query: URLSearchParams, expectedState: string): Promise<URLSearchParams> {
    const as = await this.metadata();
    try {
      return oauth.validateAuthResponse(as, this.#client, query, expectedState);
    } catch (err) {
      this.#config.logger.info("authorization response refused at the callback", {
        reason: err instanceof oauth.OperationProcessingError ? err.message : "error response",
      });
      throw badRequest("invalid_request", "The authorization response is invalid.");
    }
  }

  /**
   * Exchanges an authorization code; validates the ID token's claims (nonce included) and
   * refuses a token type other than Bearer. `authorizationResponse` is the callback's
   * response as {@link validateCallback} answered it; without one (native clients and
   * py-oidc-auth-client post the code without the `iss` of the redirect they received),
   * the code came back to a redirect URI of a login this server started.
   */
  async exchangeCode(input: {
    code: string;
    authorizationResponse?: URLSearchParams | undefined;
    redirectUri: string;
    codeVerifier: string;
    nonce: string;
  }): Promise<oauth.TokenEndpointResponse> {
    const as = await this.metadata();
    let callbackParams = input.authorizationResponse;
    if (!callbackParams) {
      const params = new URLSearchParams({ code: input.code, iss: as.issuer });
      callbackParams = await this.#call("callback", async () =>
        oauth.validateAuthResponse(as, this.#client, params, oauth.skipStateCheck),
      );
    }
    const validated = callbackParams;
    return this.#call("code exchange", async () => {
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        this.#client,
        this.#clientAuth,
        validated,
        input.redirectUri,
        input.codeVerifier,
        this.requestOptions(),
      );
      return requireBearer(
        await oauth.processAuthorizationCodeResponse(as, this.#client, response, {
          expectedNonce: input.nonce,
          requireIdToken: true,
        }),
      );
    });
  }

  /** Refresh-token grant. */
  async refresh(refreshToken: string): Promise<oauth.TokenEndpointResponse> {
    const as = await this.metadata();
    return this.#call("refresh", async () => {
      const response = await oauth.refreshTokenGrantRequest(
        as,
        this.#client,
        this.#clientAuth,
        refreshToken,
        this.requestOptions(),
      );
      return requireBearer(await oauth.processRefreshTokenResponse(as, this.#client, response));
    });
  }

  /**
   * Refresh-token grant for a broker session. Only the IdP's own `invalid_grant` (the grant
   * is dead: the session must end) is answered as `"invalid_grant"`; a 429 is a 503 and any
   * other refusal or failure an error that keeps the session (see {@link refresh}).
   */
  async refreshSession(
    refreshToken: string,
  ): Promise<oauth.TokenEndpointResponse | "invalid_grant"> {
    const as = await this.metadata();
    return this.#call("refresh", async () => {
      const response = await oauth.refreshTokenGrantRequest(
        as,
        this.#client,
        this.#clientAuth,
        refreshToken,
        this.requestOptions(),
      );
      // Too many requests: the IdP is busy, not saying anything about the grant.
      if (response.status === 429) throw upstreamUnavailable();
      try {
        return await oauth.processRefreshTokenResponse(as, this.#client, response);
      } catch (err) {
        if (err instanceof oauth.ResponseBodyError && err.error === "invalid_grant") {
          return "invalid_grant";
        }
        throw err;
      }
    });
  }

  /** Starts a device authorization (RFC 8628 §3.1). */
  async startDeviceAuthorization(scope: string): Promise<DeviceAuthorization> {
    const as = await this.metadata();
    if (!as.device_authorization_endpoint) {
      throw badRequest("unsupported_grant_type", "The identity provider has no device flow.");
    }
    const answer = await this.#call("device authorization", async () => {
      const response = await oauth.deviceAuthorizationRequest(
        as,
        this.#client,
        this.#clientAuth,
        { scope },
        this.requestOptions(),
      );
      return oauth.processDeviceAuthorizationResponse(as, this.#client, response);
    });
    const result: DeviceAuthorization = {
      device_code: answer.device_code,
      user_code: answer.user_code,
      verification_uri: answer.verification_uri,
      expires_in: answer.expires_in,
      interval: answer.interval ?? 5,
    };
    if (answer.verification_uri_complete) {
      result.verification_uri_complete = answer.verification_uri_complete;
    }
    return result;
  }

  /** Polls the device-code grant; pending/slow_down/expired/denied become 400 errors. */
  async pollDeviceCode(deviceCode: string): Promise<oauth.TokenEndpointResponse> {
    const as = await this.metadata();
    return this.#call("device poll", async () => {
      const response = await oauth.deviceCodeGrantRequest(
        as,
        this.#client,
        this.#clientAuth,
        deviceCode,
        this.requestOptions(),
      );
      return requireBearer(await oauth.processDeviceCodeResponse(as, this.#client, response));
    });
  }

  /** The IdP's userinfo for an access token, or undefined when the IdP will not answer. */
  async userinfo(accessToken: string): Promise<Record<string, unknown> | undefined> {
    const as = await this.metadata();
    if (!as.userinfo_endpoint) return undefined;
    try {
      const response = await oauth.userInfoRequest(
        as,
        this.#client,
        accessToken,
        this.requestOptions(),
      );
      return {
        ...(await oauth.processUserInfoResponse(
          as,
          this.#client,
          oauth.skipSubjectCheck,
          response,
        )),
      };
    } catch (err) {
      this.#config.logger.debug("userinfo at the identity provider failed", describeError(err));
      return undefined;
    }
  }

  /** Revokes a refresh token at the IdP where it offers revocation; failures are logged only. */
  async revoke(refreshToken: string): Promise<void> {
    try {
      const as = await this.metadata();
      if (!as.revocation_endpoint) return;
      const response = await oauth.revocationRequest(
        as,
        this.#client,
        this.#clientAuth,
        refreshToken,
        {
          ...this.requestOptions(),
          additionalParameters: { token_type_hint: "refresh_token" },
        },
      );
      await oauth.processRevocationResponse(response);
    } catch (err) {
      this.#config.logger.warn("revocation at the identity provider failed", describeError(err));
    }
  }

  /** The IdP's RP-initiated logout endpoint, if it has one (one that does not parse is a 502). */
  async endSessionEndpoint(): Promise<URL | undefined> {
    const endpoint = (await this.metadata()).end_session_endpoint;
    return endpoint === undefined ? undefined : this.#metadataUrl("end_session_endpoint", endpoint);
  }

  /**
   * Runs one IdP interaction and maps its failures: protocol errors in the IdP's answer
   * keep their RFC code (4xx), an unreachable IdP is 503, a malformed answer is 502.
   */
  async #call<T>(step: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw this.#mapError(step, err);
    }
  }

  #mapError(step: string, err: unknown): OIDCAuthError {
    const log = this.#config.logger;
    if (err instanceof OIDCAuthError) return err;
    if (err instanceof oauth.ResponseBodyError) {
      log.info(`identity provider refused the ${step}`, { error: err.error, status: err.status });
      const code = /^[a-z_]{1,64}$/.test(err.error) ? err.error : "invalid_grant";
      if (DEVICE_POLL_ERRORS.has(code)) {
        return badRequest(code, devicePollDescription(code));
      }
      if (err.status >= 500) return upstreamUnavailable();
      if (code === "invalid_client" || code === "unauthorized_client") {
        // Our own client configuration is wrong: not the caller's fault, and not theirs to see.
        log.error(`identity provider rejected this client during the ${step}`);
        return upstreamInvalid();
      }
      return badRequest(code, `The identity provider refused the ${step}.`);
    }
    if (err instanceof oauth.WWWAuthenticateChallengeError) {
      log.error(`identity provider challenged the ${step}`, { status: err.status });
      return err.status >= 500 ? upstreamUnavailable() : upstreamInvalid();
    }
    if (err instanceof oauth.AuthorizationResponseError) {
      return badRequest("invalid_request", "The authorization response is invalid.");
    }
    if (isNetworkError(err)) {
      log.warn(`identity provider unreachable during the ${step}`, describeError(err));
      return upstreamUnavailable();
    }
    if (err instanceof oauth.OperationProcessingError) {
      if (err.code === oauth.RESPONSE_IS_NOT_CONFORM && isServerErrorResponse(err)) {
        log.warn(`identity provider failed during the ${step}`, describeError(err));
        return upstreamUnavailable();
      }
      if (err.code === oauth.JWT_CLAIM_COMPARISON || err.code === oauth.JWT_TIMESTAMP_CHECK) {
        log.warn(`ID token rejected during the ${step}`, describeError(err));
        return badRequest("invalid_grant", "The identity provider's ID token is invalid.");
      }
      log.warn(`identity provider answered badly during the ${step}`, describeError(err));
      return upstreamInvalid();
    }
    if (err instanceof oauth.UnsupportedOperationError) {
      log.error(`unsupported operation during the ${step}`, describeError(err));
      return upstreamInvalid();
    }
    log.error(`unexpected failure during the ${step}`, describeError(err));
    return upstreamInvalid();
  }
}

/**
 * The discovery check when `issuer` overrides the IdP's issuer (py-oidc-auth's `issuer`:
 * discovery is fetched from an internal URL, tokens carry the public issuer). The document
 * must name either the configured issuer (an IdP that knows its public URL) or the issuer
 * its own URL stands for (OIDC Discovery §4.3; an IdP that answers with the address it was
 * asked at); anything else is still refused. Both are oauth4webapi's own check with another
 * expected issuer; the document is trusted because it comes from the configured URL.
 */
async function processDiscoveryWithIssuerOverride(
  response: Response,
  configuredIssuer: URL,
  discoveryIssuer: URL,
): Promise<oauth.AuthorizationServer> {
  try {
    return await oauth.processDiscoveryResponse(configuredIssuer, response.clone());
  } catch (err) {
    const otherIssuer =
      err instanceof oauth.OperationProcessingError && err.code === oauth.JSON_ATTRIBUTE_COMPARISON;
    if (!otherIssuer || configuredIssuer.href === discoveryIssuer.href) {
      await response.body?.cancel().catch(() => {});
      throw err;
    }
    return oauth.processDiscoveryResponse(discoveryIssuer, response);
  }
}

function sameUrl(a: string, b: string): boolean {
  return new URL(a).href === new URL(b).href;
}

/**
 * Only Bearer tokens are passed on or used: a DPoP-bound token (oauth4webapi accepts
 * both) is useless to a client that holds no DPoP key, so it is refused until oidc-auth
 * speaks DPoP. oauth4webapi lower-cases `token_type`.
 */
function requireBearer(tokens: oauth.TokenEndpointResponse): oauth.TokenEndpointResponse {
  if (tokens.token_type !== "bearer") {
    throw new oauth.UnsupportedOperationError("token_type is not Bearer", {
      cause: { token_type: tokens.token_type },
    });
  }
  return tokens;
}

function devicePollDescription(code: string): string {
  switch (code) {
    case "authorization_pending":
      return "The user has not yet completed the authorization.";
    case "slow_down":
      return "Polling too fast; increase the interval.";
    case "expired_token":
      return "The device code has expired.";
    default:
      return "The user denied the authorization.";
  }
}

function isServerErrorResponse(err: oauth.OperationProcessingError): boolean {
  const cause = err.cause as unknown;
  return cause instanceof Response && cause.status >= 500;
}

/** fetch failures, timeouts and aborts: the IdP could not be reached in time. */
export function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === "TimeoutError" ||
    err.name === "AbortError" ||
    (err instanceof TypeError && /fetch|network|connect/i.test(err.message)) ||
    // workerd rejects fetch() with a plain Error for a refused or dropped connection
    (err.name === "Error" && /^Network connection lost\.?$/.test(err.message))
  );
}
