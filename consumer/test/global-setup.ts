/**
 * Once per run of the consumer project: pack every published package into a temporary
 * folder (as `pnpm publish` would: `prepack` builds, `workspace:` ranges become real ones),
 * print what each tarball holds, and start the dev IdP from its own tarball with plain
 * `node` (its `oidc-auth-dev-idp` bin). Test files get the paths through `inject()`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { npmInstall, PACKAGES, packageTarball, REPO, run, waitForLine } from "./support.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Folder of the whole consumer run (apps are made in it). */
    workDir: string;
    /** Tarball path of each package, by short name ("core", "hono", …). */
    tarballs: Record<string, string>;
    /** The dev IdP started from its tarball. */
    issuer: string;
    /** The `aud` of the dev IdP's access tokens, as its command printed it. */
    audience: string;
    /** Where the dev IdP's tarball is installed (its exports are imported from there). */
    idpDir: string;
  }
}

/** `tar -tzvf` lines: size is the third column, path the last. */
async function tarballContents(tarball: string) {
  const listing = await run("tar", ["-tzvf", tarball], { quiet: true });
  const files = listing
    .trim()
    .split("\n")
    .map((line) => {
      const cols = line.trim().split(/\s+/);
      return { size: Number(cols[2]), path: (cols.at(-1) ?? "").replace(/^package\//, "") };
    });
  const packed = (await stat(tarball)).size;
  const unpacked = files.reduce((sum, f) => sum + f.size, 0);
  return { files, packed, unpacked };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

let idpProcess: ChildProcess | undefined;
let workDir: string | undefined;

export async function setup(project: TestProject) {
  workDir = await mkdtemp(join(tmpdir(), "oidc-auth-consumer-"));
  const packDir = join(workDir, "packs");
  await mkdir(packDir);
  const tarballs: Record<string, string> = {};
  const report: string[] = ["", "packed tarballs (what `npm publish` would upload):"];
  for (const name of PACKAGES) {
    await run("pnpm", ["pack", "--pack-destination", packDir], {
      cwd: join(REPO, "packages", name),
      quiet: true,
    });
    const tarball = packageTarball(packDir, name);
    tarballs[name] = tarball;
    const { files, packed, unpacked } = await tarballContents(tarball);
    const dist = files.filter((f) => f.path.startsWith("dist/")).length;
    report.push(
      `  @oidc-auth/${name}: ${files.length} files (${dist} in dist/), packed ${kb(packed)}, unpacked ${kb(unpacked)}`,
      ...files
        .filter((f) => !f.path.startsWith("dist/") && !f.path.startsWith("src/"))
        .map((f) => `      ${f.path} ${kb(f.size)}`),
      `      dist/… ${kb(files.filter((f) => f.path.startsWith("dist/")).reduce((s, f) => s + f.size, 0))}, src/… ${kb(files.filter((f) => f.path.startsWith("src/")).reduce((s, f) => s + f.size, 0))}`,
    );
  }
  console.log(report.join("\n"));

  // The dev IdP as a user runs it: installed from its tarball, started by its bin.
  const idpDir = join(workDir, "idp");
  await npmInstall(idpDir, {
    dependencies: { "@oidc-auth/dev-idp": `file:${tarballs["dev-idp"]}` },
  });
  idpProcess = spawn(join(idpDir, "node_modules", ".bin", "oidc-auth-dev-idp"), [], {
    cwd: idpDir,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const printed = await waitForLine(
    idpProcess,
    /issuer:\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*audience:\s+(\S+)[\s\S]*Press Ctrl\+C/,
    30_000,
  );
  const [, issuer = "", audience = ""] = printed;

  project.provide("workDir", workDir);
  project.provide("tarballs", tarballs);
  project.provide("issuer", issuer);
  project.provide("audience", audience);
  project.provide("idpDir", idpDir);
}

export async function teardown() {
  idpProcess?.kill("SIGTERM");
  if (workDir && !process.env.KEEP_CONSUMER_APPS)
    await rm(workDir, { recursive: true, force: true });
}
