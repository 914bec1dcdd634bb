/**
 * Hono apps made from the packed tarballs: (a) plain JavaScript on @hono/node-server with
 * plain `node`, on this Node and on Node 24, passthrough and broker mode on Postgres;
 * (b) its TypeScript twin compiled under @tsconfig/node20, @tsconfig/strictest and
 * `moduleResolution: bundler`, all with `skipLibCheck: false`, and run; (e) the same app
 * bundled for a Web-API runtime (esbuild, workerd conditions) and run in workerd.
 */
import { execFileSync } from "node:child_process";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../packages/drizzle/test/postgres.js";
import { bundleForWorkerd, freePort, startWorkerd } from "../../test-support/workerd.js";
import {
  appEnv,
  checkApp,
  createApp,
  REPO,
  registryVersions,
  run,
  startServer,
  tarballDeps,
  withApp,
} from "./support.js";

/** The Node 24 binary CI caches (scripts/node24.sh fetches it from the registry once). */
function node24(): string {
  const dir = execFileSync("bash", [join(REPO, "scripts", "node24.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return join(dir, "bin", "node");
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

describe("(a) a plain-JavaScript Hono app on @hono/node-server", () => {
  let dir: string;
  let db: TestDatabase;
  const nodes: [string, string][] = [];

  beforeAll(async () => {
    dir = await createApp("hono", {
      dependencies: {
        ...tarballDeps("core", "hono", "drizzle"),
        ...(await registryVersions({
          hono: "packages/hono/package.json",
          "@hono/node-server": "examples/hono/package.json",
        })),
      },
    });
    db = await createTestDatabase();
    nodes.push([`Node ${process.versions.node}`, process.execPath]);
    const node = node24();
    const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
    expect(version).toMatch(/^v24\./);
    nodes.push([`Node ${version.slice(1)}`, node]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("runs with plain node in both modes, on this Node and on Node 24", async () => {
    expect(nodes.map(([label]) => label)).toHaveLength(2);
    for (const [label, node] of nodes) {
      for (const broker of [false, true]) {
        // broker tokens need the app's public URL (their `iss`) in production: a known port
        const port = await freePort();
        const env = await appEnv({
          PORT: String(port),
          ...(broker
            ? {
                OIDC_BROKER_MODE: "true",
                OIDC_BROKER_STORE_URL: db.url,
                OIDC_PROXY: `http://127.0.0.1:${port}`,
                OIDC_BROKER_AUDIENCE: "consumer-api",
              }
            : {}),
        });
        const app = await startServer(node, ["server.js"], {
          cwd: dir,
          env,
          urlPattern: LISTENING,
        });
        try {
          await checkApp(app.url, { broker });
        } catch (err) {
          throw new Error(
            `${label}, ${broker ? "broker" : "passthrough"}: ${(err as Error).message}\n${app.output()}`,
          );
        } finally {
          await app.stop();
        }
      }
    }
    // broker mode kept its sessions and keys in the Postgres database
    const [keys] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from oidc_auth_signing_keys`;
    expect(keys?.n).toBeGreaterThan(0);
  });

  it("(e) bundles for a Web-API runtime and runs in workerd (no nodejs_compat)", async () => {
    await copyFile(join(REPO, "consumer", "apps", "worker", "worker.js"), join(dir, "worker.js"));
    const { code, inputs } = await bundleForWorkerd("worker.js", dir);
    // the installed packages were bundled, and nothing of a database driver
    expect(inputs.some((i) => i.includes("node_modules/@oidc-auth/core/dist/"))).toBe(true);
    expect(
      inputs.filter((i) => /node_modules\/(postgres|@electric-sql|drizzle-orm)\//.test(i)),
    ).toEqual([]);
    expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/);

    const bindings: Record<string, string> = {};
    for (const [name, value] of Object.entries(await appEnv())) {
      if (name.startsWith("OIDC_") && value !== undefined) bindings[name] = value;
    }
    const worker = await startWorkerd(code, await freePort(), bindings);
    try {
      await checkApp(worker.url, { broker: false });
    } finally {
      await worker.close();
    }
  });
});

describe("(b) the TypeScript twin of the Hono app", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await createApp("hono-ts", {
      dependencies: {
        ...tarballDeps("core", "hono"),
        ...(await registryVersions({
          hono: "packages/hono/package.json",
          "@hono/node-server": "examples/hono/package.json",
        })),
      },
      devDependencies: {
        ...(await registryVersions({
          typescript: "package.json",
          "@types/node": "package.json",
        })),
        "@tsconfig/node20": "^20.1.4",
        "@tsconfig/strictest": "^2.0.5",
      },
    });
  });

  for (const config of ["node20", "strictest", "bundler"]) {
    it(`type-checks under tsconfig.${config}.json with skipLibCheck: false`, async () => {
      const tsc = join(dir, "node_modules", "typescript", "bin", "tsc");
      await run(process.execPath, [tsc, "-p", `tsconfig.${config}.json`], {
        cwd: dir,
        quiet: true,
      });
    });
  }

  it("compiles with tsc and runs with plain node", async () => {
    const tsc = join(dir, "node_modules", "typescript", "bin", "tsc");
    await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, quiet: true });
    const env = await appEnv({ PORT: "0" });
    const app = await startServer(process.execPath, ["dist/server.js"], {
      cwd: dir,
      env,
      urlPattern: LISTENING,
    });
    await withApp(app, () => checkApp(app.url, { broker: false }));
  });
});
