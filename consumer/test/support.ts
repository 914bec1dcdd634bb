/**
 * The consumer test's tools: fresh apps made from consumer/apps/<kind> in a temporary
 * folder, installed with npm from the packed tarballs (never workspace links), their
 * servers, and the checks every running app must pass.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect, inject } from "vitest";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const APPS = join(REPO, "consumer", "apps");

/** The published packages, by folder under packages/. */
export const PACKAGES = [
  "core",
  "hono",
  "express",
  "next",
  "sveltekit",
  "drizzle",
  "dev-idp",
] as const;

/** The README's install commands name these; the versions are the workspace's own. */
async function workspaceRange(packageJson: string, name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(REPO, packageJson), "utf8")) as Record<
    string,
    Record<string, string> | undefined
  >;
  const range = manifest.dependencies?.[name] ?? manifest.devDependencies?.[name];
  if (!range) throw new Error(`${packageJson} has no version of ${name}`);
  return range;
}

/** Registry packages a fresh app installs, at the versions the workspace tests with. */
export async function registryVersions(names: Record<string, string>) {
  const out: Record<string, string> = {};
  for (const [name, from] of Object.entries(names)) out[name] = await workspaceRange(from, name);
  return out;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Do not echo output (it is still part of the error when the command fails). */
  quiet?: boolean;
  timeoutMs?: number;
}

/** Runs a command to its end; its stdout, or an error with the whole output. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      output += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 300_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (!opts.quiet && output.trim()) console.log(output.trimEnd());
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `${command} ${args.join(" ")} (in ${opts.cwd ?? "."}) ended with ${signal ?? code}:\n${output.slice(-6000)}`,
          ),
        );
    });
  });
}

/** `oidc-auth-core-0.1.0.tgz` in the pack folder. */
export function packageTarball(packDir: string, name: string): string {
  return join(packDir, `oidc-auth-${name}-0.1.0.tgz`);
}

/** The tarballs of these packages as npm `file:` dependencies. */
export function tarballDeps(...names: (typeof PACKAGES)[number][]): Record<string, string> {
  const tarballs = inject("tarballs");
  return Object.fromEntries(
    names.map((name) => [`@oidc-auth/${name}`, `file:${tarballs[name] as string}`]),
  );
}

export interface Manifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}

/**
 * Writes package.json and runs `npm install` there: no workspace, no links, the registry
 * for everything else. npm's own cache (~/.npm) is reused between apps and runs.
 */
export async function npmInstall(dir: string, manifest: Manifest): Promise<void> {
  await mkdir(dir, { recursive: true });
  const pkg = {
    name: `consumer-${dir.split("/").at(-1)}`,
    private: true,
    type: "module",
    ...manifest,
  };
  await writeFile(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], {
    cwd: dir,
    quiet: true,
    timeoutMs: 600_000,
  });
}

/** A fresh app: the template consumer/apps/<template> copied into the run's folder, installed. */
export async function createApp(template: string, manifest: Manifest, name = template) {
  const dir = join(inject("workDir"), name);
  await cp(join(APPS, template), dir, { recursive: true });
  await npmInstall(dir, manifest);
  return dir;
}

/** Resolves with the first match of `pattern` in the child's output (stdout or stderr). */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      output += d;
      const match = output.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; output:\n${output}`));
    });
  });
}

export { freePort } from "../../test-support/workerd.js";

export interface RunningApp {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a server process and waits until it answers HTTP at `url` (or prints its URL when
 * `urlPattern` is given, for servers on port 0).
 */
export async function startServer(
  command: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; url?: string; urlPattern?: RegExp },
): Promise<RunningApp> {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d;
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d;
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
  try {
    let url = opts.url;
    if (opts.urlPattern) url = (await waitForLine(child, opts.urlPattern, 60_000))[1];
    if (!url) throw new Error("startServer needs url or urlPattern");
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
      const up = await fetch(`${url}/api/me`).then(
        () => true,
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`${url} did not answer within 60 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { url, output: () => output, stop };
  } catch (err) {
    await stop();
    throw new Error(`${command} ${args.join(" ")}: ${(err as Error).message}\n${output}`);
  }
}

/** Runs the checks against a started app, then stops it; a failure carries the app's output. */
export async function withApp(app: RunningApp, checks: () => Promise<unknown>, label = "") {
  try {
    await checks();
  } catch (err) {
    throw new Error(
      `${label ? `${label}: ` : ""}${(err as Error).message}\n--- app output ---\n${app.output()}`,
    );
  } finally {
    await app.stop();
  }
}

/** What the installed dev IdP package exports (imported from its tarball's install). */
interface DevIdpExports {
  DEMO_CLIENTS: { clientId: string; clientSecret?: string }[];
  completeLoginAt(
    issuer: string,
    authorizationUrl: string,
    username: string,
    password: string,
  ): Promise<URL>;
}

async function devIdp(): Promise<DevIdpExports> {
  const entry = join(inject("idpDir"), "node_modules", "@oidc-auth", "dev-idp", "dist", "index.js");
  return (await import(pathToFileURL(entry).href)) as DevIdpExports;
}

/** The OIDC_* variables an app needs to use the dev IdP as its confidential client. */
export async function appEnv(extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const { DEMO_CLIENTS } = await devIdp();
  const client = DEMO_CLIENTS.find((c) => c.clientSecret);
  if (!client?.clientSecret) throw new Error("the dev IdP has no confidential client");
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("OIDC_")) env[name] = value;
  }
  return {
    ...env,
    NODE_ENV: "production",
    OIDC_DISCOVERY_URL: `${inject("issuer")}/.well-known/openid-configuration`,
    OIDC_CLIENT_ID: client.clientId,
    OIDC_CLIENT_SECRET: client.clientSecret,
    OIDC_AUDIENCE: inject("audience"),
    OIDC_SECRET: "consumer-test-secret-0123456789-abcdefghij",
    OIDC_ALLOW_LOOPBACK_REDIRECTS: "true",
    ...extra,
  };
}

/** Every cookie a response sets, as one Cookie header. */
function cookiesOf(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

/** The payload of a JWT, unverified (to tell broker tokens from IdP tokens). */
export function jwtPayload(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** A whole login through the app: its login redirect, the IdP's login form, its callback. */
export async function loginThroughApp(appUrl: string): Promise<{ access_token: string }> {
  const issuer = inject("issuer");
  const redirectUri = `${appUrl}/callback`;
  const login = await fetch(
    `${appUrl}/api/auth/v2/login?${new URLSearchParams({ redirect_uri: redirectUri })}`,
    { redirect: "manual" },
  );
  expect(login.status, await login.clone().text()).toBe(302);
  const authorizationUrl = login.headers.get("location") ?? "";
  expect(authorizationUrl.startsWith(`${issuer}/`)).toBe(true);
  const { completeLoginAt } = await devIdp();
  const back = await completeLoginAt(issuer, authorizationUrl, "alice", "alice-password");
  expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
  const callback = await fetch(`${appUrl}/api/auth/v2/callback${back.search}`, {
    headers: { cookie: cookiesOf(login) },
  });
  const body = await callback.text();
  expect(callback.status, body).toBe(200);
  return JSON.parse(body) as { access_token: string };
}

/**
 * The checks every running app passes: the protected route refuses a request without a
 * token (401 JSON, WWW-Authenticate), the login redirects to the dev IdP, and a token
 * obtained by logging in through the app opens the protected route. In broker mode the
 * token is the app's own (its `iss` is not the IdP). Answers the token.
 */
export async function checkApp(
  url: string,
  opts: { broker: boolean; path?: string },
): Promise<string> {
  const path = opts.path ?? "/api/me";
  const anonymous = await fetch(`${url}${path}`);
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get("www-authenticate") ?? "").toMatch(/^Bearer/);
  expect(((await anonymous.json()) as { error?: string }).error).toBeTruthy();

  const { access_token } = await loginThroughApp(url);
  const iss = jwtPayload(access_token).iss;
  if (opts.broker) expect(iss).not.toBe(inject("issuer"));
  else expect(iss).toBe(inject("issuer"));

  const me = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${access_token}` } });
  const body = await me.text();
  expect(me.status, body).toBe(200);
  expect((JSON.parse(body) as { sub?: string }).sub).toBeTruthy();
  await checkSessionLogin(url, path);
  return access_token;
}

/**
 * A browser-session login through the app, as a browser makes it: the login without a
 * redirect_uri, the IdP, the app's own callback (which sets the session cookie and sends the
 * browser back), then the protected route with the cookie alone.
 */
async function checkSessionLogin(url: string, path: string): Promise<void> {
  const issuer = inject("issuer");
  const login = await fetch(
    `${url}/api/auth/v2/login?${new URLSearchParams({ return_to: path })}`,
    { redirect: "manual" },
  );
  expect(login.status, await login.clone().text()).toBe(302);
  const authorizationUrl = login.headers.get("location") ?? "";
  expect(new URL(authorizationUrl).searchParams.get("redirect_uri")).toBe(
    `${url}/api/auth/v2/callback`,
  );
  const { completeLoginAt } = await devIdp();
  const back = await completeLoginAt(issuer, authorizationUrl, "alice", "alice-password");
  const callback = await fetch(`${url}/api/auth/v2/callback${back.search}`, {
    redirect: "manual",
    headers: { cookie: cookiesOf(login) },
  });
  expect(callback.status, await callback.clone().text()).toBe(303);
  expect(callback.headers.get("location")).toBe(path);
  const session = callback.headers
    .getSetCookie()
    .find((c) => c.startsWith("oidc_auth_session=")) as string;
  expect(session).toMatch(/HttpOnly/);
  const me = await fetch(`${url}${path}`, { headers: { cookie: session.split(";")[0] as string } });
  const body = await me.text();
  expect(me.status, body).toBe(200);
  expect((JSON.parse(body) as { sub?: string }).sub).toBeTruthy();
}
