import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoProcess } from "./demo-process.js";
import { startDemo } from "./demo-process.js";

let demo: DemoProcess;
let output = "";
let dataDir: string;
const line = (label: string) => demo.line(label);

describe("pnpm demo", () => {
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "oidc-auth-demo-"));
    demo = startDemo({ PORT: "0", DEV_IDP_PORT: "0", OIDC_DATA_DIR: dataDir }, true);
    await demo.printed("Ctrl-C stops everything", 90_000);
    output = demo.output();
  });
  afterAll(async () => {
    await demo?.stop("SIGTERM");
    await rm(dataDir, { recursive: true, force: true });
  });

  it("prints the URLs and the demo users' credentials", () => {
    expect(output).toMatch(/app:\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(output).toMatch(/identity provider: http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain("alice / alice-password");
    expect(output).toContain("bob / bob-password");
    expect(output).toContain(
      `mode:           broker (store: embedded PGlite in ${join(dataDir, "demo", "dev-idp", "broker")}`,
    );
    expect(output).toMatch(/health:\s+http:\/\/127\.0\.0\.1:\d+\/api\/health/);
  });

  it("runs the broker on the embedded store and publishes its keys", async () => {
    const app = line("app:").replace(/\/$/, "");
    const response = await fetch(`${app}/api/auth/v2/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: { kty: string; alg: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: "RSA", alg: "RS256" });
  });

  it("serves the demo page and sends a login to the dev IdP's real login page", async () => {
    const app = line("app:").replace(/\/$/, "");
    const page = await fetch(`${app}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("oidc-auth demo");
    expect(html).toContain("Start device login");

    const login = await fetch(
      `${app}/api/auth/v2/login?redirect_uri=${encodeURIComponent(`${app}/callback`)}`,
      {
        redirect: "manual",
      },
    );
    expect(login.status).toBe(302);
    const idp = line("identity provider:");
    const location = login.headers.get("location") as string;
    expect(location.startsWith(idp)).toBe(true);
    let step = await fetch(location, { redirect: "manual" });
    while (step.status >= 300 && step.status < 400) {
      const next = new URL(step.headers.get("location") as string, step.url);
      const cookie = step.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      step = await fetch(next, { redirect: "manual", headers: { cookie } });
    }
    expect(step.status).toBe(200);
    expect(await step.text()).toMatch(/<form[\s\S]*password/i);
  });

  it("protects /api/me and starts a device login", async () => {
    const app = line("app:").replace(/\/$/, "");
    expect((await fetch(`${app}/api/me`)).status).toBe(401);
    const device = await fetch(`${app}/api/auth/v2/device`, { method: "POST" });
    expect(device.status).toBe(200);
    expect(await device.json()).toHaveProperty("user_code");
  });

  it("answers its readiness probe with 200 once started", async () => {
    const app = line("app:").replace(/\/$/, "");
    const health = await fetch(`${app}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({
      status: "ready",
      checks: { discovery: "ok", keys: "ok", store: "ok", "signing-key": "ok" },
    });
  });

  // Last: it ends the demo. A terminal's Ctrl-C signals the whole process group.
  it("stops cleanly on Ctrl-C: exit code 0, no pnpm failure lines", async () => {
    const code = await demo.stop("SIGINT");
    const printed = demo.output();
    expect(code).toBe(0);
    expect(printed).toContain("Stopping the demo");
    expect(printed).not.toMatch(/ELIFECYCLE|ERR_PNPM|Command failed|SIGINT/);
  });
});
