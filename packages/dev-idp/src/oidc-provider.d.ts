// Minimal, hand-written typings for the parts of oidc-provider 9.x that this package uses.
// oidc-provider ships no typings; these cover only what src/ touches (see README "Internals").

declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export type AdapterPayload = Record<string, unknown> & {
    grantId?: string;
    userCode?: string;
    uid?: string;
    consumed?: unknown;
  };

  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface ClientModel {
    clientId: string;
    clientName?: string;
    clientAuthMethod: string;
    redirectUris: string[];
    backchannelLogoutUri?: string;
    grantTypeAllowed(type: string): boolean;
    /** Whether ID tokens (and codes) for this client carry `sid`. */
    includeSid(): boolean;
    redirectUriAllowed(value: string): boolean;
    postLogoutRedirectUriAllowed(value: string): boolean;
  }

  export interface SessionModel {
    accountId?: string;
    grantIdFor(clientId: string): string | undefined;
  }

  export interface GrantModel {
    jti: string;
    accountId?: string;
    clientId?: string;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(ttl?: number): Promise<string>;
  }

  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): GrantModel;
    find(id: string): Promise<GrantModel | undefined>;
  }

  export interface ResourceServerModel {
    scope: string;
    readonly scopes: Set<string>;
    audience?: string;
  }

  export interface AccountClaims {
    sub: string;
    [claim: string]: unknown;
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string): AccountClaims | Promise<AccountClaims>;
  }

  export interface InteractionResults {
    login?: { accountId: string; acr?: string; amr?: string[]; remember?: boolean; ts?: number };
    consent?: { grantId?: string };
    error?: string;
    error_description?: string;
    [key: string]: unknown;
  }

  export interface OIDCContext {
    readonly provider: Provider;
    readonly route: string;
    readonly client?: ClientModel;
    readonly session?: SessionModel;
    readonly account?: Account;
    readonly params?: Record<string, unknown>;
    readonly body?: Record<string, unknown>;
    readonly entities: { PushedAuthorizationRequest?: { request?: unknown } } & Record<
      string,
      unknown
    >;
    readonly result?: InteractionResults;
    readonly requestParamOIDCScopes: Set<string>;
    readonly requestParamClaims: Set<string>;
    readonly requestParamScopes: Set<string>;
    readonly resourceServers: Record<string, ResourceServerModel>;
  }

  export interface KoaContextWithOIDC {
    oidc: OIDCContext;
    body: unknown;
    type: string;
    status: number;
    host: string;
    method: string;
    path: string;
    querystring: string;
    query: Record<string, unknown>;
    get(header: string): string;
  }

  export interface TokenModel {
    kind: string;
    jti: string;
    accountId?: string;
    clientId?: string;
    scope?: string;
  }

  export interface Interaction {
    uid: string;
    prompt: { name: string; reasons: string[]; details: Record<string, unknown> };
    params: Record<string, unknown>;
    session?: { accountId?: string; uid?: string };
    grantId?: string;
    returnTo: string;
    lastSubmission?: InteractionResults;
  }

  export interface ResourceServerInfo {
    scope: string;
    audience?: string;
    accessTokenTTL?: number;
    accessTokenFormat?: "opaque" | "jwt";
    jwt?: { sign?: { alg?: string; kid?: string } };
  }

  export interface ErrorOut {
    error: string;
    error_description?: string;
    state?: string;
    [key: string]: unknown;
  }

  type Ctx = KoaContextWithOIDC;
  type TtlFn = (ctx: Ctx | undefined, token: unknown, client?: ClientModel) => number;

  export interface Configuration {
    adapter?: (name: string) => Adapter;
    clients?: Record<string, unknown>[];
    jwks?: { keys: Record<string, unknown>[] };
    cookies?: {
      keys?: string[];
      long?: Record<string, unknown>;
      short?: Record<string, unknown>;
    };
    claims?: Record<string, string[] | null>;
    scopes?: string[];
    responseTypes?: string[];
    extraParams?:
      | string[]
      | Record<
          string,
          ((ctx: Ctx, value: unknown, client: ClientModel) => void | Promise<void>) | null
        >;
    conformIdTokenClaims?: boolean;
    clockTolerance?: number;
    pkce?: { required?: (ctx: Ctx, client: ClientModel) => boolean };
    findAccount?: (ctx: Ctx, sub: string, token?: unknown) => Promise<Account | undefined>;
    loadExistingGrant?: (ctx: Ctx) => Promise<GrantModel | undefined>;
    issueRefreshToken?: (
      ctx: Ctx,
      client: ClientModel,
      code: { kind: string; scopes: Set<string> },
    ) => Promise<boolean>;
    /** Outgoing requests (back-channel logout, …); options carry oidc-provider's SSRF dispatcher. */
    fetch?: (url: string, options: RequestInit & { dispatcher?: unknown }) => Promise<Response>;
    extraTokenClaims?: (
      ctx: Ctx,
      token: TokenModel,
    ) => Promise<Record<string, unknown> | undefined>;
    clientBasedCORS?: (ctx: Ctx, origin: string, client: ClientModel) => boolean;
    renderError?: (ctx: Ctx, out: ErrorOut, error: Error) => Promise<void>;
    interactions?: { url?: (ctx: Ctx, interaction: Interaction) => Promise<string> };
    ttl?: Record<string, number | TtlFn>;
    features?: {
      devInteractions?: { enabled: boolean };
      userinfo?: { enabled: boolean };
      backchannelLogout?: { enabled: boolean };
      revocation?: {
        enabled: boolean;
        allowedPolicy?: (ctx: Ctx, client: ClientModel, token: TokenModel) => Promise<boolean>;
      };
      introspection?: {
        enabled: boolean;
        allowedPolicy?: (ctx: Ctx, client: ClientModel, token: TokenModel) => Promise<boolean>;
      };
      deviceFlow?: {
        enabled: boolean;
        charset?: "base-20" | "digits";
        mask?: string;
        userCodeInputSource?: (
          ctx: Ctx,
          form: string,
          out: ErrorOut | undefined,
          err: (Error & { userCode?: string }) | undefined,
        ) => Promise<void>;
        userCodeConfirmSource?: (
          ctx: Ctx,
          form: string,
          client: ClientModel,
          deviceInfo: unknown,
          userCode: string,
        ) => Promise<void>;
        successSource?: (ctx: Ctx) => Promise<void>;
      };
      rpInitiatedLogout?: {
        enabled: boolean;
        logoutSource?: (ctx: Ctx, form: string) => Promise<void>;
        postLogoutSuccessSource?: (ctx: Ctx) => Promise<void>;
      };
      resourceIndicators?: {
        enabled: boolean;
        defaultResource?: (
          ctx: Ctx,
          client: ClientModel,
          oneOf?: string[],
        ) => Promise<string | string[] | undefined>;
        useGrantedResource?: (ctx: Ctx, model: unknown) => Promise<boolean>;
        getResourceServerInfo?: (
          ctx: Ctx,
          resourceIndicator: string,
          client: ClientModel,
        ) => Promise<ResourceServerInfo>;
      };
    };
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    proxy: boolean;
    readonly Grant: GrantConstructor;
    readonly Client: {
      prototype: ClientModel;
      find(id: string): Promise<ClientModel | undefined>;
    };
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    /** Koa middleware (Provider is a Koa application). */
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: InteractionResults,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
  }

  export const errors: {
    InvalidTarget: new (description?: string) => Error;
    InvalidRequest: new (description?: string) => Error;
  };

  export default Provider;
}
