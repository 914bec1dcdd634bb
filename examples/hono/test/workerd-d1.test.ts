import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { decodeJwt, decodeProtectedHeader } from "jose";
import type { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BROKER_AUDIENCE,
  exampleEnv,
  getWithToken,
  loginTokens,
  postToken,
} from "../../../test-support/conformance.js";
import type { WorkerBundle } from "../../../test-support/workerd.js";
import { bundleForWorkerd, freePort, startWorkerd } from "../../../test-support/workerd.js";

const workerEntry = fileURLToPath(new URL("./edge-worker-d1.ts", import.meta.url));
/** Node database drivers: none may be in an edge bundle. */
const DRIVERS = ["postgres", "@electric-sql/pglite", "@libsql/client", "libsql", "mysql2"];

let bundle: Promise<WorkerBundle> | undefined;
const workerBundle = () => {
  bundle ??= bundleForWorkerd(workerEntry);
  return bundle;
};

interface TokenJson {
  access_token: string;
  refresh_token?: string;
}

describe("the D1 worker bundle", () => {
  it("has the D1 store but no Node built-in, no Node database driver and no unresolved import", async () => {
    const { code, inputs, externalImports } = await workerBundle();
    expect(code).not.toMatch(/from\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/);
    expect(inputs.some((i) => i.includes("packages/drizzle/dist/d1.js"))).toBe(true);
    expect(inputs.some((i) => i.includes("drizzle-orm/d1/"))).toBe(true);
    for (const driver of DRIVERS) {
      expect(inputs.filter((i) => i.includes(`node_modules/${driver}/`))).toEqual([]);
    }
    for (const nodeOnly of ["packages/drizzle/dist/index.js", "packages/drizzle/dist/mysql/"]) {
      expect(inputs.filter((i) => i.includes(nodeOnly))).toEqual([]);
    }
    expect(externalImports).toEqual([]);
  });
});

describe("broker mode in workerd on a local D1 database (miniflare)", () => {
  let idp: DevIdp;
  let worker: { url: string; close(): Promise<void>; mf: Miniflare };
  beforeAll(async () => {
    idp = await startDevIdp();
    const { code } = await workerBundle();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    worker = await startWorkerd(
      code,
      port,
      {
        ...exampleEnv(idp, "broker"),
        OIDC_PROXY: url,
        OIDC_REDIRECT_URIS: `${url}/callback`,
        // No grace: any second use of a replaced refresh credential is reuse, at once.
        OIDC_REFRESH_REUSE_GRACE_SEC: "0",
      },
      { DB: crypto.randomUUID() },
    );
  });
  afterAll(async () => {
    await worker?.close();
    await idp?.stop();
  });

  it("logs in, serves its JWKS, rotates the refresh credential and revokes the family on reuse, all in D1", async () => {
    const first = (await loginTokens(worker.url, idp, "alice")) as TokenJson;
    const claims = decodeJwt(first.access_token);
    expect(claims).toMatchObject({ iss: worker.url, aud: BROKER_AUDIENCE, sub: "u-alice" });
    expect((await getWithToken(`${worker.url}/api/me`, first.access_token)).status).toBe(200);

    const jwks = (await (
      await fetch(`${worker.url}/api/auth/v2/.well-known/jwks.json`)
    ).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(first.access_token).kid);

    const rotated = await postToken(worker.url, { "refresh-token": first.refresh_token as string });
    expect(rotated.status).toBe(200);
    const second = (await rotated.json()) as TokenJson;
    expect(second.refresh_token).toBeDefined();
    expect(second.refresh_token).not.toBe(first.refresh_token);

    // The D1 database behind the worker's back: the session, its chain, the key.
    const db = await worker.mf.getD1Database("DB");
    const sessions = await db
      .prepare("select id, retired_hashes from oidc_auth_sessions where subject like ?")
      .bind("%u-alice")
      .all<{ id: string; retired_hashes: string }>();
    expect(sessions.results).toHaveLength(1);
    expect(JSON.parse(sessions.results[0]?.retired_hashes ?? "[]")).toHaveLength(1);
    const keys = await db
      .prepare("select count(*) as n from oidc_auth_signing_keys")
      .first<{ n: number }>();
    expect(keys?.n).toBe(1);

    // Reuse of the replaced credential revokes the session: the current one dies with it.
    const replay = await postToken(worker.url, { "refresh-token": first.refresh_token as string });
    expect(replay.status).toBe(400);
    const after = await postToken(worker.url, { "refresh-token": second.refresh_token as string });
    expect(after.status).toBe(400);
    const left = await db
      .prepare("select count(*) as n from oidc_auth_sessions")
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});
