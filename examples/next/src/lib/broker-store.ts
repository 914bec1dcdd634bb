import type { BrokerStore } from "@oidc-auth/next";

type Method = Exclude<keyof BrokerStore, "setup" | "close">;

/**
 * The broker store of `@oidc-auth/drizzle` for a store URL (empty: embedded PGlite), opened
 * on first use. The import sits behind Next's `NEXT_RUNTIME` constant so that edge bundles
 * never contain a database driver.
 */
export function drizzleBrokerStore(url: string | undefined, appName: string): BrokerStore {
  let opening: Promise<BrokerStore> | undefined;
  const open = (): Promise<BrokerStore> => {
    if (!opening) {
      const attempt = (async () => {
        if (process.env.NEXT_RUNTIME === "nodejs") {
          const { createBrokerStore } = await import("@oidc-auth/drizzle");
          return createBrokerStore(url, { appName });
        }
        throw new Error("the Drizzle broker store needs the Node.js runtime: use memory://");
      })();
      opening = attempt;
      attempt.catch(() => {
        if (opening === attempt) opening = undefined; // retried on the next call
      });
    }
    return opening;
  };
  const forward = <M extends Method>(method: M): BrokerStore[M] =>
    (async (...args: unknown[]) => {
      const store = await open();
      return Reflect.apply(store[method], store, args);
    }) as BrokerStore[M];
  return {
    setup: async () => void (await open()), // createBrokerStore has run setup()
    close: async () => {
      const store = await opening?.catch(() => undefined);
      await store?.close();
    },
    listSigningKeys: forward("listSigningKeys"),
    insertSigningKey: forward("insertSigningKey"),
    retireSigningKeys: forward("retireSigningKeys"),
    deleteSigningKeys: forward("deleteSigningKeys"),
    createSession: forward("createSession"),
    findSessionByRefreshHash: forward("findSessionByRefreshHash"),
    getSession: forward("getSession"),
    updateSession: forward("updateSession"),
    deleteSession: forward("deleteSession"),
    getPeerJwks: forward("getPeerJwks"),
    putPeerJwks: forward("putPeerJwks"),
    purgeExpired: forward("purgeExpired"),
  };
}
