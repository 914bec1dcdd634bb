/**
 * (c) A Next.js App Router app made from the packed tarballs: an empty next.config, the
 * default bundler (Turbopack), `next build` with no OIDC_* variable at all, then
 * `next start` in passthrough mode and in broker mode on Postgres (the store package found
 * from OIDC_BROKER_STORE_URL alone). Its edge route verifies broker tokens, and the edge
 * bundle holds no database driver.
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

/** Code that exists only in the database drivers: drizzle-orm, PGlite, postgres.js. */
const DRIVER_MARKERS = ["drizzle:Name", "pglite.wasm", "SCRAM-SHA-256"];

describe("(c) a Next.js 16 App Router app", () => {
  let dir: string;
  let db: TestDatabase;
  const next = () => join(dir, "node_modules", "next", "dist", "bin", "next");
  const withoutOidc = () =>
    Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("OIDC_")));

  async function start(env: NodeJS.ProcessEnv): Promise<RunningApp> {
    const port = Number(env.PORT);
    return startServer(process.execPath, [next(), "start", "-H", "127.0.0.1", "-p", String(port)], {
      cwd: dir,
      env: { ...env, NEXT_TELEMETRY_DISABLED: "1" },
      url: `http://127.0.0.1:${port}`,
    });
  }

  beforeAll(async () => {
    dir = await createApp("next", {
      dependencies: {
        ...tarballDeps("core", "next", "drizzle"),
        ...(await registryVersions({
          next: "examples/next/package.json",
          react: "examples/next/package.json",
          "react-dom": "examples/next/package.json",
        })),
      },
      devDependencies: await registryVersions({
        typescript: "package.json",
        "@types/node": "package.json",
        "@types/react": "examples/next/package.json",
      }),
    });
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("builds with Turbopack, an empty next.config and no OIDC_* variable", async () => {
    const config = await readFile(join(dir, "next.config.ts"), "utf8");
    expect(config).not.toMatch(/oidc|transpilePackages|extensionAlias|webpack|serverExternal/i);
    const output = await run(process.execPath, [next(), "build"], {
      cwd: dir,
      env: { ...withoutOidc(), NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
      quiet: true,
    });
    expect(output).toContain("Turbopack");
  });

  it("keeps every database driver out of the edge route's bundle", async () => {
    const manifest = JSON.parse(
      await readFile(join(dir, ".next", "server", "middleware-manifest.json"), "utf8"),
    ) as { functions: Record<string, { files: string[] }> };
    const edge = Object.entries(manifest.functions).find(([route]) => route.includes("edge/me"));
    expect(edge, JSON.stringify(Object.keys(manifest.functions))).toBeDefined();
    const files = edge?.[1].files ?? [];
    expect(files.length).toBeGreaterThan(0);
    let oidcAuthFound = false;
    for (const file of files) {
      const code = await readFile(join(dir, ".next", file), "utf8");
      oidcAuthFound ||= code.includes("@oidc-auth/drizzle");
      for (const marker of DRIVER_MARKERS)
        expect(code.includes(marker), `${marker} in ${file}`).toBe(false);
    }
    // the core was bundled (its run-time store import names the package, never resolves it)
    expect(oidcAuthFound).toBe(true);
  });

  it("serves passthrough mode with IdP tokens", async () => {
    const port = await freePort();
    const app = await start(await appEnv({ PORT: String(port) }));
    await withApp(app, () => checkApp(app.url, { broker: false }));
  });

  it("serves broker mode on Postgres from OIDC_BROKER_STORE_URL alone, also on the edge route", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const app = await start(
      await appEnv({
        PORT: String(port),
        OIDC_BROKER_MODE: "true",
        OIDC_BROKER_STORE_URL: db.url,
        OIDC_BROKER_AUDIENCE: "consumer-api",
        OIDC_PROXY: url,
      }),
    );
    await withApp(app, async () => {
      const token = await checkApp(app.url, { broker: true });
      const edge = await fetch(`${url}/api/edge/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(edge.status, await edge.clone().text()).toBe(200);
      expect(await edge.json()).toMatchObject({ runtime: "edge" });
      const [keys] = await db.sql<
        { n: number }[]
      >`select count(*)::int as n from oidc_auth_signing_keys`;
      expect(keys?.n).toBeGreaterThan(0);
    });
  });
});
