import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningExample } from "../../../test-support/conformance.js";
import {
  BROKER_AUDIENCE,
  describeConformance,
  exampleEnv,
  getWithToken,
  loginTokens,
} from "../../../test-support/conformance.js";
import type { WorkerBundle } from "../../../test-support/workerd.js";
import { bundleForWorkerd, freePort, startWorkerd } from "../../../test-support/workerd.js";

const workerEntry = fileURLToPath(new URL("./edge-worker.ts", import.meta.url));
const DRIVERS = ["postgres", "@electric-sql/pglite", "drizzle-orm", "@oidc-auth/drizzle"];

let bundle: Promise<WorkerBundle> | undefined;
const workerBundle = () => {
  bundle ??= bundleForWorkerd(workerEntry);
  return bundle;
};

/** The bundled Hono example in workerd, with the env as string bindings (no nodejs_compat). */
async function startWorker(env: Record<string, string>): Promise<RunningExample> {
  const { code } = await workerBundle();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return startWorkerd(code, port, {
    OIDC_PROXY: url,
    OIDC_REDIRECT_URIS: `${url}/callback`,
    ...env,
  });
}

describe("the worker bundle", () => {
  it("has no Node built-in, no database driver and no unresolved import", async () => {
    const { code, inputs, externalImports } = await workerBundle();
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/);
    expect(inputs.some((i) => i.includes("packages/core/dist/"))).toBe(true);
    for (const driver of DRIVERS) {
      expect(inputs.filter((i) => i.includes(`node_modules/${driver}/`))).toEqual([]);
    }
    expect(inputs.filter((i) => i.includes("packages/drizzle/"))).toEqual([]);
    expect(externalImports).toEqual([]);
  });
});

describe("@oidc-auth/hono in workerd (miniflare, no nodejs_compat)", () => {
  let idp: DevIdp;
  beforeAll(async () => {
    idp = await startDevIdp();
  });
  afterAll(async () => {
    await idp?.stop();
  });

  describe("passthrough", () => {
    let worker: RunningExample;
    beforeAll(async () => {
      worker = await startWorker(exampleEnv(idp, "passthrough"));
    });
    afterAll(async () => {
      await worker?.close();
    });

    it("runs on workerd, where Node's globals do not exist", async () => {
      const runtime = await (await fetch(`${worker.url}/runtime`)).json();
      expect(runtime).toEqual({
        userAgent: "Cloudflare-Workers",
        process: "undefined",
        buffer: "undefined",
      });
    });

    it("accepts an IdP token, refuses a bad one, and treats it as anonymous when optional", async () => {
      const valid = await idp.mintAccessToken("alice");
      const me = await getWithToken(`${worker.url}/api/me`, valid);
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ sub: "u-alice", preferred_username: "alice" });
      expect(await (await getWithToken(`${worker.url}/api/hello`, valid)).json()).toEqual({
        hello: "alice",
      });

      const [header, payload] = valid.split(".");
      const invalid = `${header}.${payload}.${"A".repeat(342)}`;
      const refused = await getWithToken(`${worker.url}/api/me`, invalid);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({ error: "invalid_token" });
      expect(await (await getWithToken(`${worker.url}/api/hello`, invalid)).json()).toEqual({
        hello: "anonymous",
      });
      expect(await (await fetch(`${worker.url}/api/hello`)).json()).toEqual({
        hello: "anonymous",
      });
    });
  });

  describe("broker mode on the memory store", () => {
    let worker: RunningExample;
    beforeAll(async () => {
      worker = await startWorker(exampleEnv(idp, "broker"));
    });
    afterAll(async () => {
      await worker?.close();
    });

    it("mints its own token after a login through its routes, and its guard accepts it", async () => {
      const tokens = await loginTokens(worker.url, idp, "alice");
      const claims = decodeJwt(tokens.access_token);
      expect(claims).toMatchObject({ iss: worker.url, aud: BROKER_AUDIENCE, sub: "u-alice" });
      const me = await getWithToken(`${worker.url}/api/me`, tokens.access_token);
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ sub: "u-alice", preferred_username: "alice" });
      const jwks = await fetch(`${worker.url}/api/auth/v2/.well-known/jwks.json`);
      expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
      // the IdP's own token is not a broker token
      const idpToken = await idp.mintAccessToken("alice");
      expect((await getWithToken(`${worker.url}/api/me`, idpToken)).status).toBe(401);
    });
  });
});

// The whole example contract, on workerd (an unreachable IdP is a 503 there too: workerd's
// "Network connection lost." counts as a network error in the core).
describeConformance("workerd", startWorker);
