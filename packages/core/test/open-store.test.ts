import { describe, expect, it } from "vitest";
import { MemoryBrokerStore } from "../src/broker/memory-store.js";
import { lazyStoreProxy } from "../src/broker/open-store.js";

describe("lazyStoreProxy", () => {
  it("can be awaited: it answers no `then`, so awaiting gives the proxy itself", async () => {
    const proxy = lazyStoreProxy(async () => new MemoryBrokerStore());
    expect((proxy as unknown as { then?: unknown }).then).toBeUndefined();
    const awaited = await Promise.race([
      Promise.resolve(proxy),
      new Promise((r) => setTimeout(() => r("hung"), 500)),
    ]);
    expect(awaited).toBe(proxy);
  });

  it("opens the store on the first call and forwards every method to it", async () => {
    let opened = 0;
    const store = new MemoryBrokerStore();
    const proxy = lazyStoreProxy(async () => {
      opened++;
      return store;
    });
    expect(opened).toBe(0);
    expect(await proxy.listSigningKeys()).toEqual([]);
    expect(await proxy.getSession("x")).toBeUndefined();
    expect(opened).toBe(2);
  });

  it("refuses a name the store does not have instead of calling undefined", async () => {
    const proxy = lazyStoreProxy(async () => new MemoryBrokerStore()) as unknown as Record<
      string,
      () => Promise<unknown>
    >;
    await expect(proxy.noSuchMethod?.()).rejects.toThrow(/no method noSuchMethod/);
  });
});
