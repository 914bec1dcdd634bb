import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "./demo-process.js";

/** What a person would set for another IdP (the README's list), here a second dev IdP. */
const OTHER_CLIENT = { clientId: "startup-app", clientSecret: "startup-app-secret-0123456789" };

let dataDir: string;
let other: DevIdp;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "oidc-auth-demo-startup-"));
  other = await startDevIdp({
    audience: "startup-api",
    clients: [{ ...OTHER_CLIENT, allowAnyLoopbackRedirect: true }],
  });
});
afterAll(async () => {
  await other?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("the demo at startup", () => {
  it("keeps one embedded store per IdP: a run against another IdP is not trapped by the first", async () => {
    const first = startDemo({ PORT: "0", DEV_IDP_PORT: "0", OIDC_DATA_DIR: dataDir });
    await first.printed("Ctrl-C stops everything");
    expect(await first.stop()).toBe(0);

    const second = startDemo({
      PORT: "0",
      OIDC_DATA_DIR: dataDir,
      OIDC_DISCOVERY_URL: other.discoveryUrl,
      OIDC_CLIENT_ID: OTHER_CLIENT.clientId,
      OIDC_CLIENT_SECRET: OTHER_CLIENT.clientSecret,
      OIDC_AUDIENCE: "startup-api",
    });
    await second.printed("Ctrl-C stops everything");
    const otherFolder = join(dataDir, "demo", `127.0.0.1_${other.port}`, "broker");
    expect(second.output()).toContain(`embedded PGlite in ${otherFolder}`);
    expect(second.output()).toMatch(
      /registered at the IdP, exactly: redirect URI http:\/\/127\.0\.0\.1:\d+\/callback/,
    );
    const app = second.line("app:").replace(/\/$/, "");
    expect((await fetch(`${app}/api/health`)).status).toBe(200);
    expect(await second.stop()).toBe(0);
  });

  it("refuses a store sealed with another secret, naming the folder and what to do", async () => {
    const folder = join(dataDir, "demo", "dev-idp", "broker");
    const wrongSecret = "not-the-secret-that-sealed-this-store-0001";
    const demo = startDemo({
      PORT: "0",
      DEV_IDP_PORT: "0",
      OIDC_DATA_DIR: dataDir,
      OIDC_BROKER_STORE_URL: `pglite://${folder}`,
      OIDC_SECRET: wrongSecret,
    });
    expect(await demo.exited).toBe(1);
    const output = demo.output();
    expect(output).toContain("The demo cannot start.");
    expect(output).toContain(
      `the broker's signing key in ${folder} was sealed with another secret`,
    );
    expect(output).toContain(`delete ${folder} to start over`);
    expect(output).not.toContain(wrongSecret);
    expect(output).not.toContain("Ctrl-C stops everything");
  });

  it("says which discovery URL is unreachable and why, then exits 1", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/realms/demo/.well-known/openid-configuration`;
    const demo = startDemo({
      PORT: "0",
      OIDC_DATA_DIR: dataDir,
      OIDC_DISCOVERY_URL: url,
      OIDC_CLIENT_ID: "app",
      OIDC_CLIENT_SECRET: "app-secret-never-printed",
      OIDC_AUDIENCE: "api",
    });
    expect(await demo.exited).toBe(1);
    const output = demo.output();
    expect(output).toContain("The demo cannot start.");
    expect(output).toContain(`identity provider discovery at ${url} failed`);
    expect(output).toContain("refused (ECONNREFUSED)");
    expect(output).toContain("OIDC_DISCOVERY_URL");
    expect(output).not.toContain("app-secret-never-printed");
  });

  it("names the port in use and the variable that moves it", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const demo = startDemo({ PORT: "0", DEV_IDP_PORT: String(port), OIDC_DATA_DIR: dataDir });
      expect(await demo.exited).toBe(1);
      expect(demo.output()).toContain(`Port ${port} of the bundled identity provider is in use`);
      expect(demo.output()).toContain("DEV_IDP_PORT=");
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
