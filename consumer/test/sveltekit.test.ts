/**
 * (d) A SvelteKit 2 app made from the packed tarballs: adapter-node, no Vite plugin of
 * ours, `vite build` with no OIDC_* variable, then `node build` in passthrough mode and in
 * broker mode on Postgres (the store package found from OIDC_BROKER_STORE_URL alone).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../packages/drizzle/test/postgres.js";
import {
  appEnv,
  checkApp,
  createApp,
  freePort,
  type RunningApp,
  registryVersions,
  run,
  startServer,
  tarballDeps,
  withApp,
} from "./support.js";

describe("(d) a SvelteKit 2 app on adapter-node", () => {
  let dir: string;
  let db: TestDatabase;

  async function start(env: NodeJS.ProcessEnv): Promise<RunningApp> {
    return startServer(process.execPath, ["build"], {
      cwd: dir,
      env: { ...env, HOST: "127.0.0.1" },
      url: `http://127.0.0.1:${env.PORT}`,
    });
  }

  beforeAll(async () => {
    dir = await createApp("sveltekit", {
      dependencies: tarballDeps("core", "sveltekit", "drizzle"),
      devDependencies: {
        ...(await registryVersions({
          "@sveltejs/kit": "examples/sveltekit/package.json",
          "@sveltejs/adapter-node": "examples/sveltekit/package.json",
          "@sveltejs/vite-plugin-svelte": "examples/sveltekit/package.json",
          svelte: "examples/sveltekit/package.json",
          vite: "examples/sveltekit/package.json",
        })),
        ...(await registryVersions({ typescript: "package.json" })),
      },
    });
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("builds with vite build, no plugin of ours and no OIDC_* variable", async () => {
    const config = await readFile(join(dir, "vite.config.ts"), "utf8");
    expect(config).not.toMatch(/oidc|drizzle|migrations/i);
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("OIDC_")),
    );
    await run(process.execPath, [join(dir, "node_modules", "vite", "bin", "vite.js"), "build"], {
      cwd: dir,
      env: { ...env, NODE_ENV: "production" },
      quiet: true,
    });
  });

  it("serves passthrough mode with IdP tokens", async () => {
    // adapter-node cannot tell its public URL from a request (it assumes https): ORIGIN says
    // it, as adapter-node's own form actions need too.
    const port = await freePort();
    const app = await start(
      await appEnv({ PORT: String(port), ORIGIN: `http://127.0.0.1:${port}` }),
    );
    await withApp(app, () => checkApp(app.url, { broker: false }));
  });

  it("serves broker mode on Postgres from OIDC_BROKER_STORE_URL alone", async () => {
    const port = await freePort();
    const app = await start(
      await appEnv({
        PORT: String(port),
        OIDC_BROKER_MODE: "true",
        OIDC_BROKER_STORE_URL: db.url,
        OIDC_BROKER_AUDIENCE: "consumer-api",
        OIDC_PROXY: `http://127.0.0.1:${port}`,
      }),
    );
    await withApp(app, async () => {
      await checkApp(app.url, { broker: true });
      const [keys] = await db.sql<
        { n: number }[]
      >`select count(*)::int as n from oidc_auth_signing_keys`;
      expect(keys?.n).toBeGreaterThan(0);
    });
  });
});
