import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import type {
  ClientModel,
  Configuration,
  GrantModel,
  KoaContextWithOIDC,
  Provider,
} from "oidc-provider";
import { MemoryStore } from "./adapter.js";
import {
  createIdpBrowser,
  driveAuthorization,
  driveDeviceApproval,
  driveIdpSessionEnd,
  driveLogout,
  type IdpBrowser,
} from "./automation.js";
import { ClientRegistry } from "./client-registry.js";
import { DEMO_CLIENTS, type DevClient, isLoopbackHttpUri } from "./clients.js";
import { handleInteraction, sendHtml } from "./interactions.js";
import {
  deviceConfirmPage,
  deviceInputPage,
  deviceSuccessPage,
  errorPage,
  logoutPage,
  logoutSuccessPage,
} from "./pages.js";
import {
  DEMO_USERS,
  type DevUser,
  keycloakClaims,
  oidcClaims,
  SCOPE_CLAIMS,
  UserDirectory,
} from "./users.js";

export interface DevIdpOptions {
  /** Interface to listen on. Default "127.0.0.1". */
  host?: string;
  /** Port to listen on. Default 0 (a random free port). */
  port?: number;
  /** `aud` of the JWT access tokens. Default "oidc-auth-api". */
  audience?: string;
  /** Registered clients. Default DEMO_CLIENTS. */
  clients?: DevClient[];
  /** Access token lifetime in seconds. Default 300. */
  accessTokenTtlSec?: number;
  /**
   * The polling `interval` (seconds) device authorizations name (RFC 8628 §3.2; oidc-provider
   * names none, which means 5). Default 1: device logins in the demo and tests are quick.
   */
  deviceIntervalSec?: number;
  /** Users that can log in. Default DEMO_USERS. */
  users?: DevUser[];
  /** Show the users' credentials on the login page. Default true (it is a dev IdP). */
  showCredentialHints?: boolean;
  /**
   * Issue refresh tokens the way Keycloak does by default: a confidential client that may use the
   * refresh_token grant gets one from the authorization code grant even without `offline_access`.
   * Such an "online" refresh token belongs to the user's session at the IdP: once that session ends
   * (logout at the IdP), it no longer refreshes (`invalid_grant`). `offline_access` still yields an
   * offline refresh token that outlives the session. Default false: refresh tokens only with
   * `offline_access`.
   */
  onlineRefreshTokens?: boolean;
  /**
   * Called with errors that oidc-provider reports as server errors (HTTP 500) and with errors of the
   * dev IdP's own handlers. Default: ignored, unless the environment variable DEV_IDP_DEBUG is set,
   * in which case they are printed to stderr.
   */
  onError?: (error: Error) => void;
}

export interface DevIdp {
  /** e.g. "http://127.0.0.1:43123" (no trailing slash) */
  issuer: string;
  /** issuer + "/.well-known/openid-configuration" */
  discoveryUrl: string;
  port: number;
  users: DevUser[];
  clients: DevClient[];
  audience: string;
  /** The resource indicator that JWT access tokens are issued for ("urn:oidc-auth:api"). */
  resource: string;
  /** Request count per pathname, for every incoming request. */
  hits: Map<string, number>;
  resetHits(): void;
  /** Closes the server and all its connections. */
  stop(): Promise<void>;
  /**
   * Drives the real login pages with fetch (cookie jar, no browser): given the full authorization
   * URL an RP produced, logs in as username/password (consent is granted automatically) and returns
   * the final redirect URL (the RP's redirect_uri with code & state, or with error) without
   * requesting it. Throws an Error when the login fails or the IdP shows an error page.
   *
   * Each call uses a fresh cookie jar unless `opts.browser` is given: then the IdP session the login
   * creates stays in that browser (for `endIdpSession`), and a browser that already has a session
   * is not asked to log in again (single sign-on; username/password are then not used).
   */
  completeLogin(
    authorizationUrl: string,
    username?: string,
    password?: string,
    opts?: { browser?: IdpBrowser },
  ): Promise<URL>;
  /**
   * Approves a pending device authorization by driving the real /device pages with fetch (enter the
   * user code, confirm, log in). With deny: true the user denies it (the device gets access_denied).
   */
  approveDevice(
    userCode: string,
    username?: string,
    password?: string,
    opts?: { deny?: boolean },
  ): Promise<void>;
  /**
   * Drives an RP-initiated logout URL (end_session_endpoint with client_id /
   * post_logout_redirect_uri / state) through its confirmation form and returns where the IdP sends
   * the user agent, without requesting it. With `opts.browser` (the browser of a login) it ends that
   * IdP session, which sends the back-channel logouts; with a fresh jar there is no session to end.
   */
  completeLogout(endSessionUrl: string, opts?: { browser?: IdpBrowser }): Promise<URL>;
  /** A new cookie jar standing in for the user's browser at this IdP (see completeLogin). */
  newBrowser(): IdpBrowser;
  /**
   * Signs the browser's user out at the IdP itself (not through an application): the end_session
   * endpoint without id_token_hint, then its confirmation. The IdP session ends, with it the online
   * refresh tokens of its logins, and every client of the session with a back-channel logout URI gets
   * its `logout_token` POST before this resolves. Returns the URL of the IdP's "signed out" page.
   * Throws when the browser has no session at the IdP.
   *
   * @example
   * const browser = idp.newBrowser();
   * const callback = await idp.completeLogin(authorizationUrl, "alice", undefined, { browser });
   * // … the app exchanges the code …
   * await idp.endIdpSession(browser); // the app's back-channel logout endpoint has been called
   */
  endIdpSession(browser: IdpBrowser): Promise<URL>;
  /**
   * Sets (or with null removes) the Back-Channel Logout URI of a registered client while the IdP
   * runs, e.g. once the app under test knows its port. Logins made before keep their sessions; the
   * next IdP logout POSTs to the new URI. Throws for an unknown client or a URI that is not an
   * absolute http(s) URI without fragment.
   */
  setBackchannelLogoutUri(clientId: string, uri: string | null): Promise<void>;
  /**
   * Signs an arbitrary JWT with the IdP's current signing key. The header gets kid, alg RS256 and
   * typ "at+jwt" unless overridden. The payload is used as is.
   */
  signJwt(payload: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  /**
   * Issues an access token for a user, shaped exactly like the token endpoint's JWT access tokens,
   * signed with the IdP key. Defaults: scope "openid profile email", expiresInSec = accessTokenTtlSec,
   * audience = the IdP's audience, clientId = the first configured client.
   */
  mintAccessToken(
    username: string,
    opts?: { scope?: string; expiresInSec?: number; audience?: string; clientId?: string },
  ): Promise<string>;
}

/** The resource indicator every authorization is bound to (access tokens are JWTs for it). */
export const DEV_IDP_RESOURCE = "urn:oidc-auth:api";
/** Scopes the resource server (the API) knows; access tokens carry the requested subset. */
export const RESOURCE_SCOPES = "openid profile email offline_access api admin";

/**
 * Name of a pseudo authorization parameter whose validator (oidc-provider runs extraParams
 * validators whether or not the parameter is present, after its scope checks) restores the
 * offline_access scope.
 */
const OFFLINE_ACCESS_GUARD = "dev_idp_offline_access_guard";

/** The scope parameter exactly as the client sent it (query, form body, or pushed request). */
function rawRequestedScope(ctx: KoaContextWithOIDC): string | undefined {
  const pushed = ctx.oidc.entities.PushedAuthorizationRequest;
  if (pushed && typeof pushed.request === "string") {
    try {
      const { scope } = decodeJwt(pushed.request);
      return typeof scope === "string" ? scope : undefined;
    } catch {
      return undefined;
    }
  }
  const source = ctx.method === "POST" ? ctx.oidc.body : ctx.query;
  const scope = source?.scope;
  return typeof scope === "string" ? scope : undefined;
}

/**
 * oidc-provider removes offline_access from authorization requests unless prompt contains
 * "consent" (even when no prompt is sent). Refresh tokens should be issued whenever the client may
 * use the refresh_token grant and asked for offline_access, so add it back - except for
 * prompt=none requests.
 */
function restoreOfflineAccess(ctx: KoaContextWithOIDC): void {
  const { oidc } = ctx;
  if (oidc.route !== "authorization" && oidc.route !== "pushed_authorization_request") return;
  const params = oidc.params;
  if (!params || !oidc.client?.grantTypeAllowed("refresh_token")) return;
  const current = typeof params.scope === "string" ? params.scope.split(" ").filter(Boolean) : [];
  if (current.includes("offline_access")) return;
  const prompt = typeof params.prompt === "string" ? params.prompt.split(" ") : [];
  if (prompt.includes("none")) return;
  const responseType = typeof params.response_type === "string" ? params.response_type : "";
  if (!responseType.split(" ").includes("code")) return;
  const raw = rawRequestedScope(ctx)?.split(" ") ?? [];
  if (!raw.includes("offline_access")) return;
  params.scope = [...current, "offline_access"].join(" ");
}

type OidcModule = typeof import("oidc-provider");
let oidcModule: Promise<OidcModule> | undefined;

/**
 * Imports oidc-provider while hiding its one-time "Unsupported runtime" console warning (it asks for
 * Node 22+ but works on Node 20.19+; this package is dev/test only).
 */
function loadOidcProvider(): Promise<OidcModule> {
  oidcModule ??= (async () => {
    const original = console.warn;
    const filtered = (...args: unknown[]): void => {
      const first = args[0];
      if (
        typeof first === "string" &&
        first.includes("oidc-provider WARNING: Unsupported runtime")
      ) {
        return;
      }
      original.apply(console, args);
    };
    console.warn = filtered;
    try {
      return await import("oidc-provider");
    } finally {
      if (console.warn === filtered) console.warn = original;
    }
  })();
  return oidcModule;
}

function listen(host: string, port: number, handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  return new Promise<{ server: ReturnType<typeof createServer>; port: number }>(
    (resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve({ server, port: (server.address() as AddressInfo).port });
      });
    },
  );
}

function formatHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(JSON.stringify(body));
}

/** Starts a dev OpenID Provider on http://host:port. */
export async function startDevIdp(options: DevIdpOptions = {}): Promise<DevIdp> {
  const host = options.host ?? "127.0.0.1";
  const audience = options.audience ?? "oidc-auth-api";
  const accessTokenTtl = options.accessTokenTtlSec ?? 300;
  const clients = options.clients ?? DEMO_CLIENTS;
  const onlineRefreshTokens = options.onlineRefreshTokens ?? false;
  const directory = new UserDirectory(options.users ?? DEMO_USERS);
  const users = directory.users;
  const reportError =
    options.onError ??
    ((error: Error) => {
      if (process.env.DEV_IDP_DEBUG) console.error("[dev-idp]", error);
    });
  if (!Number.isInteger(accessTokenTtl) || accessTokenTtl <= 0) {
    throw new TypeError("dev-idp: accessTokenTtlSec must be a positive integer");
  }
  const store = new MemoryStore(15);
  const registry = new ClientRegistry(store.adapterFor("Client"), clients);
  const loopbackClients = new Set(
    clients.filter((c) => c.allowAnyLoopbackRedirect ?? true).map((c) => c.clientId),
  );

  const { Provider: ProviderClass, errors } = await loadOidcProvider();

  // --- keys -------------------------------------------------------------------------------------
  const { privateKey, publicKey } = await generateKeyPair("RS256", {
    modulusLength: 2048,
    extractable: true,
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };

  // --- http server first, so the issuer carries the real port -------------------------------------
  const hits = new Map<string, number>();
  let handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> = async (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const { server, port } = await listen(host, options.port ?? 0, (req, res) => {
    const pathname = URL.parse(req.url ?? "/", "http://x")?.pathname ?? "/";
    hits.set(pathname, (hits.get(pathname) ?? 0) + 1);
    handle(req, res).catch((error: unknown) => {
      reportError(error instanceof Error ? error : new Error(String(error)));
      if (!res.headersSent) {
        sendHtml(res, 500, errorPage("Server error", { error: "server_error" }));
      } else {
        res.destroy();
      }
    });
  });
  const issuer = `http://${formatHost(host)}:${port}`;

  // --- oidc-provider configuration --------------------------------------------------------------
  let provider: Provider;

  const findUser = (sub: string | undefined): DevUser | undefined =>
    sub ? directory.bySub(sub) : undefined;

  const configuration: Configuration = {
    // clients come through the adapter (see ClientRegistry), not the static `clients` option
    adapter: (name) => store.adapterFor(name),
    jwks: { keys: [signingJwk as Record<string, unknown>] },
    cookies: {
      keys: [randomBytes(32).toString("base64url")],
    },
    claims: structuredClone(SCOPE_CLAIMS),
    scopes: ["openid", "offline_access", "profile", "email", "api", "admin"],
    // profile/email claims in ID tokens too, not only at userinfo
    conformIdTokenClaims: false,
    clockTolerance: 15,
    async findAccount(_ctx, sub) {
      const user = findUser(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        claims: () => oidcClaims(user),
      };
    },
    // Consent never blocks: every requested OIDC scope/claim and resource scope is granted.
    async loadExistingGrant(ctx: KoaContextWithOIDC): Promise<GrantModel | undefined> {
      const { oidc } = ctx;
      const client = oidc.client;
      const accountId = oidc.account?.accountId;
      if (!client || !accountId) return undefined;
      const existingId = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(client.clientId);
      let grant = existingId ? await provider.Grant.find(existingId) : undefined;
      if (grant && (grant.accountId !== accountId || grant.clientId !== client.clientId)) {
        grant = undefined;
      }
      grant ??= new provider.Grant({ accountId, clientId: client.clientId });
      const oidcScopes = [...oidc.requestParamOIDCScopes];
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(" "));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      const requested = [...oidc.requestParamScopes];
      for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers)) {
        const scopes = requested.filter((s) => resourceServer.scopes.has(s));
        if (scopes.length) grant.addResourceScope(indicator, scopes.join(" "));
      }
      await grant.save();
      return grant;
    },
    // oidc-provider's authorization endpoint drops offline_access unless prompt includes consent;
    // consent is automatic here, so put it back (see restoreOfflineAccess).
    extraParams: {
      async [OFFLINE_ACCESS_GUARD](ctx) {
        restoreOfflineAccess(ctx);
      },
    },
    responseTypes: ["code"],
    async issueRefreshToken(_ctx, client, code) {
      if (!client.grantTypeAllowed("refresh_token")) return false;
      if (code.scopes.has("offline_access")) return true;
      // Without offline_access, oidc-provider's default expiresWithSession binds the code, and the
      // refresh token made from it, to the IdP session: IdP logout revokes it.
      return (
        onlineRefreshTokens &&
        code.kind === "AuthorizationCode" &&
        client.clientAuthMethod !== "none"
      );
    },
    // Back-channel logout POSTs go to the registered URIs, often loopback; oidc-provider's fetch
    // refuses special-use addresses (loopback, private networks) by default. The operator
    // configured these URIs, so exactly those are fetched without that guard.
    async fetch(url, options) {
      if (registry.isBackchannelLogoutUri(String(url))) {
        const { dispatcher: _guard, ...rest } = options;
        return fetch(url, rest);
      }
      return fetch(url, options as RequestInit);
    },
    async extraTokenClaims(_ctx, token) {
      const user = findUser(token.accountId);
      if (!user) return undefined;
      return keycloakClaims(user, token.clientId ?? "");
    },
    clientBasedCORS(_ctx, origin) {
      return isLoopbackHttpUri(`${origin}/`);
    },
    async renderError(ctx, out) {
      ctx.type = "html";
      ctx.body = errorPage("Something went wrong", {
        error: out.error,
        error_description:
          typeof out.error_description === "string" ? out.error_description : undefined,
      });
    },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: 600,
      DeviceCode: 600,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 3600,
      PreAuthorizedCode: 600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId !== client.clientId) {
            if (client.clientAuthMethod === "none") return false;
            throw new errors.InvalidRequest(
              "client is not authorized to revoke the presented token",
            );
          }
          return true;
        },
      },
      introspection: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return !(
            client.clientAuthMethod === "none" && token.clientId !== ctx.oidc.client?.clientId
          );
        },
      },
      deviceFlow: {
        enabled: true,
        charset: "base-20",
        mask: "****-****",
        async userCodeInputSource(ctx, form, _out, err) {
          let message = "Enter the code displayed on your device.";
          let aborted = false;
          if (err && (err.userCode || err.name === "NoCodeError")) {
            message = "The code you entered is incorrect or expired. Try again.";
          } else if (err && err.name === "AbortedError") {
            message = "The sign-in request was denied.";
            aborted = true;
          } else if (err) {
            message = "There was an error processing your request.";
          }
          ctx.type = "html";
          ctx.body = deviceInputPage(form, message, Boolean(err)).replace(
            "<main>",
            `<main data-dev-idp-aborted="${aborted}">`,
          );
        },
        async userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
          ctx.type = "html";
          ctx.body = deviceConfirmPage(form, client.clientName ?? client.clientId, userCode);
        },
        async successSource(ctx) {
          const client = ctx.oidc.client;
          ctx.type = "html";
          ctx.body = deviceSuccessPage(client?.clientName ?? client?.clientId ?? "the device");
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = "html";
          ctx.body = logoutPage(form, ctx.host);
        },
        async postLogoutSuccessSource(ctx) {
          const client = ctx.oidc.client;
          ctx.type = "html";
          ctx.body = logoutSuccessPage(client?.clientName ?? client?.clientId);
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(_ctx, _client, oneOf) {
          if (oneOf) return oneOf.includes(DEV_IDP_RESOURCE) ? DEV_IDP_RESOURCE : oneOf;
          return DEV_IDP_RESOURCE;
        },
        // token requests need no `resource` parameter: the granted one is used (even with openid)
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (resourceIndicator !== DEV_IDP_RESOURCE) {
            throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
          }
          return {
            scope: RESOURCE_SCOPES,
            audience,
            accessTokenFormat: "jwt",
            accessTokenTTL: accessTokenTtl,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
  };

  try {
    provider = new ProviderClass(issuer, configuration);
  } catch (error) {
    server.close();
    throw error;
  }
  provider.proxy = false;
  // oidc-provider logs Koa errors to stderr unless someone listens; route them to onError.
  provider.on("server_error", (_ctx, error) => {
    reportError(error instanceof Error ? error : new Error(String(error)));
  });
  provider.on("error", (error) => {
    reportError(error instanceof Error ? error : new Error(String(error)));
  });
  // A receiver that fails does not stop the logout; tell whoever listens.
  provider.on("backchannel.error", (_ctx, error, client) => {
    const clientId = (client as ClientModel | undefined)?.clientId ?? "?";
    const reason = error instanceof Error ? error.message : String(error);
    reportError(new Error(`back-channel logout to client "${clientId}" failed: ${reason}`));
  });
  try {
    await registry.register(provider);
  } catch (error) {
    server.close();
    throw error;
  }

  // Any http loopback redirect URI (any port, any path) is allowed for the loopback clients; oidc-
  // provider itself only relaxes the port, and only for native clients.
  const clientPrototype = provider.Client.prototype;
  // Like Keycloak, every ID token names the IdP session (`sid`), also for clients without a
  // back-channel logout URI (oidc-provider adds it only for those with one); a logout token's `sid`
  // for the client is the same value.
  clientPrototype.includeSid = function includeSid() {
    return true;
  };
  const originalRedirectUriAllowed = clientPrototype.redirectUriAllowed;
  const originalPostLogoutAllowed = clientPrototype.postLogoutRedirectUriAllowed;
  clientPrototype.redirectUriAllowed = function redirectUriAllowed(this: ClientModel, value) {
    return (
      originalRedirectUriAllowed.call(this, value) ||
      (loopbackClients.has(this.clientId) && isLoopbackHttpUri(value))
    );
  };
  clientPrototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(
    this: ClientModel,
    value,
  ) {
    return (
      originalPostLogoutAllowed.call(this, value) ||
      (loopbackClients.has(this.clientId) && isLoopbackHttpUri(value))
    );
  };

  const deviceInterval = options.deviceIntervalSec ?? 1;
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path === "/device/auth" && ctx.status === 200 && body && typeof body === "object") {
      body.interval = deviceInterval;
    }
  });

  const providerCallback = provider.callback();
  const interactionDeps = {
    provider,
    users: directory,
    clients,
    showHints: options.showCredentialHints ?? true,
  };

  // --- JWT access tokens at userinfo ------------------------------------------------------------
  // oidc-provider only serves userinfo for opaque tokens without audience; the tokens this IdP
  // issues are JWTs for the API audience, so /me validates those itself (like Keycloak does).
  async function jwtUserinfo(res: ServerResponse, token: string) {
    const challenge = (error: string, description: string) =>
      `Bearer realm="${issuer}", error="${error}", error_description="${description.replaceAll('"', "'")}"`;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, publicKey, {
        issuer,
        audience,
        typ: "at+jwt",
        algorithms: ["RS256"],
        clockTolerance: 5,
      }));
    } catch (error) {
      const description = `invalid access token: ${(error as Error).message}`;
      sendJson(
        res,
        401,
        { error: "invalid_token", error_description: description },
        { "www-authenticate": challenge("invalid_token", description) },
      );
      return;
    }
    const scopes = new Set(typeof payload.scope === "string" ? payload.scope.split(" ") : []);
    if (!scopes.has("openid")) {
      const description = "access token missing openid scope";
      sendJson(
        res,
        403,
        { error: "insufficient_scope", error_description: description },
        { "www-authenticate": challenge("insufficient_scope", description) },
      );
      return;
    }
    const user = findUser(typeof payload.sub === "string" ? payload.sub : undefined);
    if (!user) {
      const description = "unknown subject";
      sendJson(
        res,
        401,
        { error: "invalid_token", error_description: description },
        { "www-authenticate": challenge("invalid_token", description) },
      );
      return;
    }
    const all: Record<string, unknown> = oidcClaims(user);
    const body: Record<string, unknown> = { sub: user.sub };
    for (const scope of scopes) {
      for (const claim of SCOPE_CLAIMS[scope] ?? []) {
        if (claim in all) body[claim] = all[claim];
      }
    }
    sendJson(res, 200, body);
  }

  handle = async (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const { pathname } = url;

    if (pathname.startsWith("/interaction/")) {
      if (await handleInteraction(interactionDeps, req, res, pathname)) return;
    }

    if (pathname === "/me" && (req.method === "GET" || req.method === "POST")) {
      const authorization = req.headers.authorization ?? "";
      const bearer = /^Bearer\s+([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)\s*$/i.exec(
        authorization,
      );
      if (bearer?.[1]) {
        await jwtUserinfo(res, bearer[1]);
        return;
      }
    }

    await providerCallback(req, res);
  };

  // --- the DevIdp handle ------------------------------------------------------------------------
  let stopped: Promise<void> | undefined;
  const defaultUser = users[0];

  const signJwt: DevIdp["signJwt"] = async (payload, header = {}) => {
    return new SignJWT(payload)
      .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid, ...header } as {
        alg: string;
      })
      .sign(privateKey as CryptoKey);
  };

  const idp: DevIdp = {
    issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    port,
    users,
    clients,
    audience,
    resource: DEV_IDP_RESOURCE,
    hits,
    resetHits() {
      hits.clear();
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        store.clear();
      });
      return stopped;
    },
    async completeLogin(authorizationUrl, username, password, opts) {
      const name = username ?? defaultUser?.username ?? "";
      const secret = password ?? directory.byUsername(name)?.password ?? "";
      return driveAuthorization(issuer, authorizationUrl, name, secret, opts?.browser);
    },
    async approveDevice(userCode, username, password, opts) {
      const name = username ?? defaultUser?.username ?? "";
      const secret = password ?? directory.byUsername(name)?.password ?? "";
      await driveDeviceApproval(issuer, "/device", userCode, name, secret, opts?.deny ?? false);
    },
    async completeLogout(endSessionUrl, opts) {
      return driveLogout(issuer, endSessionUrl, opts?.browser);
    },
    newBrowser() {
      return createIdpBrowser(issuer);
    },
    async endIdpSession(browser) {
      return driveIdpSessionEnd(issuer, browser);
    },
    async setBackchannelLogoutUri(clientId, uri) {
      await registry.setBackchannelLogoutUri(provider, clientId, uri);
    },
    signJwt,
    async mintAccessToken(username, opts = {}) {
      const user = directory.byUsername(username);
      if (!user) throw new Error(`dev-idp mintAccessToken: unknown user "${username}"`);
      const clientId = opts.clientId ?? clients[0]?.clientId ?? "dev-idp";
      const now = Math.floor(Date.now() / 1000);
      const expiresIn = opts.expiresInSec ?? accessTokenTtl;
      const payload: Record<string, unknown> = {
        ...keycloakClaims(user, clientId),
        jti: randomUUID(),
        sub: user.sub,
        iat: now,
        exp: now + expiresIn,
        scope: opts.scope ?? "openid profile email",
        client_id: clientId,
        iss: issuer,
        aud: opts.audience ?? audience,
      };
      return signJwt(payload);
    },
  };
  return idp;
}
