import type { ResolvedConfig } from "../config.js";
import { MemoryBrokerStore } from "./memory-store.js";
import type { BrokerStore } from "./store.js";

/** Opens the store named by configuration. Postgres and PGlite live in @oidc-auth/drizzle. */
export async function openStore(config: ResolvedConfig): Promise<BrokerStore> {
  if (config.brokerStore) {
    const store =
      typeof config.brokerStore === "function" ? await config.brokerStore() : config.brokerStore;
    await store.setup();
    return store;
  }
  const url = config.brokerStoreUrl;
  if (url === "memory://") return new MemoryBrokerStore();
  // A specifier in a variable keeps bundlers of edge apps from pulling database drivers in.
  const drizzlePackage = "@oidc-auth/drizzle";
  let module: {
    createBrokerStore(url: string | undefined, opts: { appName: string }): Promise<BrokerStore>;
  };
  try {
    module = await import(
      /* webpackIgnore: true */ /* turbopackIgnore: true */ /* @vite-ignore */ drizzlePackage
    );
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") throw err;
    throw new Error(
      `broker store ${url ? "URL" : "default (embedded PGlite)"} needs the package @oidc-auth/drizzle: install it, or set brokerStoreUrl "memory://" or pass brokerStore`,
    );
  }
  return module.createBrokerStore(url, { appName: config.appName });
}

/**
 * A store whose every method waits for the real store to open. Only the store's methods
 * are answered: `then` (which `await` looks up) and any other name are undefined, so
 * awaiting the proxy gives the proxy instead of hanging forever.
 */
export function lazyStoreProxy(open: () => Promise<BrokerStore>): BrokerStore {
  const methods = new Map<PropertyKey, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy({} as BrokerStore, {
    get(_target, name) {
      if (typeof name !== "string" || name === "then" || name === "constructor") return undefined;
      let method = methods.get(name);
      if (!method) {
        method = async (...args: unknown[]) => {
          const store = await open();
          const member = (store as unknown as Record<string, unknown>)[name];
          if (typeof member !== "function") {
            throw new TypeError(`the broker store has no method ${name}`);
          }
          return (member as (...a: unknown[]) => Promise<unknown>).apply(store, args);
        };
        methods.set(name, method);
      }
      return method;
    },
  });
}
