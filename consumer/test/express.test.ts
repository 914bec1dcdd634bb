/**
 * An Express 5 app made from the packed tarballs: plain JavaScript, `@oidc-auth/express`
 * and `express` installed with npm, run with plain `node`, in passthrough mode and in
 * broker mode on Postgres.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../packages/drizzle/test/postgres.js";
import { freePort } from "../../test-support/workerd.js";
import {
  appEnv,
  checkApp,
  createApp,
  registryVersions,
  startServer,
  tarballDeps,
} from "./support.js";

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

describe("a plain-JavaScript Express 5 app", () => {
  let dir: string;
  let db: TestDatabase;

  beforeAll(async () => {
    dir = await createApp("express", {
      dependencies: {
        ...tarballDeps("core", "express", "drizzle"),
        ...(await registryVersions({ express: "packages/express/package.json" })),
      },
    });
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  for (const broker of [false, true]) {
    it(`logs in, refuses without a token and serves with one (${broker ? "broker mode on Postgres" : "passthrough"})`, async () => {
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
      const app = await startServer(process.execPath, ["server.js"], {
        cwd: dir,
        env,
        urlPattern: LISTENING,
      });
      try {
        await checkApp(app.url, { broker });
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${app.output()}`);
      } finally {
        await app.stop();
      }
      if (broker) {
        // broker mode kept its keys in the Postgres database
        const [keys] = await db.sql<
          { n: number }[]
        >`select count(*)::int as n from oidc_auth_signing_keys`;
        expect(keys?.n).toBeGreaterThan(0);
      }
    });
  }
});
