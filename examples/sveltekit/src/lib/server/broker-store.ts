import type { BrokerStore, OIDCAuthOptions } from "@oidc-auth/core";

/**
 * Broker mode's Drizzle store (the embedded PGlite default, `pglite://…` or `postgres://…`),
 * opened on first use like the core opens it; a failed open is retried on the next call.
 *
 * Why the app wires it: the core loads `@oidc-auth/drizzle` with a runtime `import()` by
 * name, which a built app (`node build`) cannot serve, since the workspace package is
 * TypeScript. Imported here by a literal name, Vite bundles it into a chunk of its own,
 * loaded only in broker mode.
 */
export function drizzleBrokerStore(options: OIDCAuthOptions): BrokerStore | undefined {
  if (!options.brokerMode || options.brokerStore || options.brokerStoreUrl === "memory://") {
    return undefined;
  }
  let opening: Promise<BrokerStore> | undefined;
  const open = (): Promise<BrokerStore> => {
    if (!opening) {
      const attempt = import("@oidc-auth/drizzle").then(({ createBrokerStore }) =>
        createBrokerStore(options.brokerStoreUrl, { appName: options.appName }),
      );
      opening = attempt;
      attempt.catch(() => {
        if (opening === attempt) opening = undefined;
      });
    }
    return opening;
  };
  const use = async <T>(work: (store: BrokerStore) => Promise<T>): Promise<T> => work(await open());
  return {
    setup: async () => {
      await open(); // createBrokerStore has applied the migrations
    },
    close: async () => {
      const store = await opening?.catch(() => undefined);
      await store?.close();
    },
    listSigningKeys: () => use((s) => s.listSigningKeys()),
    insertSigningKey: (key) => use((s) => s.insertSigningKey(key)),
    retireSigningKeys: (before, at) => use((s) => s.retireSigningKeys(before, at)),
    deleteSigningKeys: (before) => use((s) => s.deleteSigningKeys(before)),
    createSession: (session) => use((s) => s.createSession(session)),
    findSessionByRefreshHash: (hash) => use((s) => s.findSessionByRefreshHash(hash)),
    getSession: (id) => use((s) => s.getSession(id)),
    updateSession: (id, hash, changes) => use((s) => s.updateSession(id, hash, changes)),
    deleteSession: (id) => use((s) => s.deleteSession(id)),
    getPeerJwks: (issuer) => use((s) => s.getPeerJwks(issuer)),
    putPeerJwks: (record) => use((s) => s.putPeerJwks(record)),
    purgeExpired: (now) => use((s) => s.purgeExpired(now)),
  };
}
