import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../..", import.meta.url));
let demo: ChildProcess;
let output = "";

/** Waits until the demo has printed its banner. */
function banner(): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${output}`)), 45_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ctrl-C stops everything")) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    demo.stdout?.on("data", onData);
    demo.stderr?.on("data", onData);
    demo.once("exit", (code) => reject(new Error(`demo exited with ${code}:\n${output}`)));
  });
}

function line(label: string): string {
  const match = new RegExp(`${label}\\s+(\\S+)`).exec(output);
  if (!match?.[1]) throw new Error(`no "${label}" line in:\n${output}`);
  return match[1];
}

describe("pnpm demo", () => {
  beforeAll(async () => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith("OIDC_")) env[k] = v;
    demo = spawn("pnpm", ["demo"], {
      cwd: root,
      env: { ...env, PORT: "0", DEV_IDP_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    await banner();
  });
  afterAll(async () => {
    if (demo.pid && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo.once("exit", resolve));
      process.kill(-demo.pid, "SIGTERM");
      await exited;
    }
  });

  it("prints the URLs and the demo users' credentials", () => {
    expect(output).toMatch(/app:\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(output).toMatch(/identity provider: http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toContain("alice / alice-password");
    expect(output).toContain("bob / bob-password");
    expect(output).toMatch(/mode:\s+broker \(store: embedded PGlite/);
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
});
