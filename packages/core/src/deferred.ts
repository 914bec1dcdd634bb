import type { BrokerStore } from "./broker/store.js";
import type { IDToken } from "./claims.js";
import type { OIDCAuthOptions } from "./config.js";
import type { AuthenticateOptions } from "./context.js";
import { optionsFromEnv } from "./env.js";
import type { RouteGuard } from "./guard.js";
import type { BrokerUser, HandleRequestOptions } from "./oidc-auth.js";
import { OIDCAuth } from "./oidc-auth.js";
import type { HealthReport } from "./readiness.js";
import type { BrowserSession } from "./sessions.js";

/** An environment record, as `process.env` is. */
export type EnvRecord = Record<string, string | undefined>;

/** Options of {@link DeferredOIDCAuth}. */
export interface DeferredOptions {
  /**
   * Where `OIDC_*` variables are read from when the first request arrives. Default: the
   * runtime's `process.env` (empty where there is none); explicit options win over it.
   */
  env?: () => EnvRecord;
  /** Last look at the merged options before the instance is made (adapters use it). */
  finish?: (options: OIDCAuthOptions) => OIDCAuthOptions;
  /** Names the registry that shares instances per runtime, e.g. the adapter's package. */
  registry: string;
}

type Registry = Map<string, OIDCAuth>;
type GlobalWithRegistries = typeof globalThis & { [key: symbol]: Registry | undefined };

/** The running process's environment, read now; `{}` on runtimes without `process`. */
export function runtimeEnv(): EnvRecord {
  const proc = (globalThis as { process?: { env?: EnvRecord } }).process;
  return proc?.env ?? {};
}

/** Functions and class instances compare by identity; everything else by value. */
function configurationKey(options: OIDCAuthOptions): string {
  return JSON.stringify(options, (_key, value: unknown) =>
    typeof value === "function" || (value && typeof value === "object" && !isPlain(value))
      ? `[object #${objectId(value as object)}]`
      : value,
  );
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === Array.prototype || proto === null;
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function objectId(value: object): number {
  let id = objectIds.get(value);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(value, id);
  }
  return id;
}

/**
 * An {@link OIDCAuth} made when the first request needs it, for frameworks that load every
 * route module while they build (`next build`, `vite build`): building never reads the
 * environment, never validates configuration and never opens a store. The options are the
 * `OIDC_*` variables of the running server under the explicit ones.
 *
 * One instance per runtime and configuration: instances live in a registry on
 * `globalThis`, so several route bundles and dev-server reloads that construct the same
 * configuration share one broker store, one set of keys and one token cache.
 */
export class DeferredOIDCAuth {
  readonly #explicit: OIDCAuthOptions;
  readonly #deferred: DeferredOptions;
  #core: OIDCAuth | undefined;

  constructor(options: OIDCAuthOptions, deferred: DeferredOptions) {
    this.#explicit = options;
    this.#deferred = deferred;
  }

  /** The core instance, made (or taken from the runtime's registry) on first use. */
  get core(): OIDCAuth {
    if (this.#core) return this.#core;
    const env = (this.#deferred.env ?? runtimeEnv)();
    const merged = optionsFromEnv(env, this.#explicit);
    const options = this.#deferred.finish ? this.#deferred.finish(merged) : merged;
    const key = configurationKey(options);
    const slot = Symbol.for(`${this.#deferred.registry}.instances`);
    const shared = globalThis as GlobalWithRegistries;
    const registry = shared[slot] ?? new Map<string, OIDCAuth>();
    shared[slot] = registry;
    let core = registry.get(key);
    if (!core) {
      core = new OIDCAuth(options);
      registry.set(key, core);
    }
    this.#core = core;
    return core;
  }

  /** Whether the core instance exists yet. */
  get started(): boolean {
    return this.#core !== undefined;
  }

  /** {@link OIDCAuth.handleRequest}. */
  handleRequest(request: Request, options?: HandleRequestOptions): Promise<Response> {
    return this.core.handleRequest(request, options);
  }

  /** {@link OIDCAuth.authenticate}. */
  authenticate(
    request: Request,
    options: AuthenticateOptions & { optional: true },
  ): Promise<IDToken | null>;
  authenticate(request: Request, options?: AuthenticateOptions): Promise<IDToken>;
  authenticate(request: Request, options?: AuthenticateOptions): Promise<IDToken | null> {
    return this.core.authenticate(request, options);
  }

  /** {@link OIDCAuth.guard}, prepared on its first request. */
  guard(options?: Omit<AuthenticateOptions, "optional">): RouteGuard {
    let prepared: RouteGuard | undefined;
    const guard = () => {
      prepared ??= this.core.guard(options);
      return prepared;
    };
    return {
      check: (request) => guard().check(request),
      checkOptional: (request) => guard().checkOptional(request),
      authenticate: (request) => guard().authenticate(request),
      optional: (request) => guard().optional(request),
    };
  }

  /** {@link OIDCAuth.session}. */
  session(request: Request): Promise<BrowserSession | null> {
    return this.core.session(request);
  }

  /** {@link OIDCAuth.responseCookies}. */
  responseCookies(request: Request): string[] {
    return this.core.responseCookies(request);
  }

  /** {@link OIDCAuth.sameOrigin}. */
  sameOrigin(request: Request, session: BrowserSession, formToken?: string): Promise<boolean> {
    return this.core.sameOrigin(request, session, formToken);
  }

  /** {@link OIDCAuth.loginRedirect}. */
  loginRedirect(request: Request, returnTo?: string): Response {
    return this.core.loginRedirect(request, returnTo);
  }

  /** {@link OIDCAuth.refusedResponse}. */
  refusedResponse(
    err: unknown,
    request: Request,
    options?: Pick<AuthenticateOptions, "redirectToLogin">,
  ): Response {
    return this.core.refusedResponse(err, request, options);
  }

  /** {@link OIDCAuth.rotateSigningKey}. */
  rotateSigningKey(): Promise<{ kid: string }> {
    return this.core.rotateSigningKey();
  }

  /** {@link OIDCAuth.mintBrokerToken}. */
  mintBrokerToken(
    user: BrokerUser,
    options?: { scope?: string },
  ): Promise<{ access_token: string; token_type: "Bearer"; expires_in: number }> {
    return this.core.mintBrokerToken(user, options);
  }

  /** {@link OIDCAuth.revokeUserSessions}. */
  revokeUserSessions(sub: string): Promise<number> {
    return this.core.revokeUserSessions(sub);
  }

  /** {@link OIDCAuth.brokerStore}. */
  brokerStore(): Promise<BrokerStore> {
    return this.core.brokerStore();
  }

  /** See {@link OIDCAuth.health}. */
  health(): Promise<HealthReport> {
    return this.core.health();
  }

  /** See {@link OIDCAuth.ready}. */
  ready(): Promise<HealthReport> {
    return this.core.ready();
  }

  /** See {@link OIDCAuth.healthResponse}. */
  healthResponse(): Promise<Response> {
    return this.core.healthResponse();
  }

  /** Closes the core instance (and the store it opened), if it was made; it leaves the registry. */
  async close(): Promise<void> {
    const core = this.#core;
    if (!core) return;
    this.#core = undefined;
    const slot = Symbol.for(`${this.#deferred.registry}.instances`);
    const registry = (globalThis as GlobalWithRegistries)[slot];
    for (const [key, value] of registry ?? []) if (value === core) registry?.delete(key);
    await core.close();
  }
}
