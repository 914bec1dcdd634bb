import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { check, fmt, section, table } from "./report.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));

/** The edge entry points: the core and each adapter that exists in packages/. */
const ENTRIES = ["core", "hono", "next"] as const;

interface PackageJson {
  name: string;
  peerDependencies?: Record<string, string>;
}

/** Bundles an entry as an edge app would: Web APIs only, minified; peers stay external. */
async function bundle(entry: string, external: string[]) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    minify: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["worker", "browser", "import"],
    external,
    metafile: true,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  const byPackage = new Map<string, number>();
  const output = Object.values(result.metafile.outputs)[0];
  for (const [input, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules)/.exec(input);
    const name =
      match?.[1] ??
      (/packages\/([^/]+)\//.exec(input)?.[1]
        ? `@oidc-auth/${/packages\/([^/]+)\//.exec(input)?.[1]}`
        : input);
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return { minified: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength, byPackage };
}

/**
 * Bundle size of the edge entry points (esbuild, minified, gzip -9), dependencies
 * included and peer dependencies (the framework itself) left out. An adapter that does
 * not exist yet is reported as not present and picked up once it is built (dist/index.js).
 */
export async function bundleBench() {
  section("4. bundle size of the edge entry points (esbuild --bundle --minify, gzip -9)");
  const rows: string[][] = [];
  let honoGzip: number | undefined;
  let honoParts: Map<string, number> | undefined;
  for (const name of ENTRIES) {
    const dir = `${repo}packages/${name}`;
    const entry = `${dir}/dist/index.js`;
    if (!existsSync(entry)) {
      rows.push([`@oidc-auth/${name}`, "not present", "", ""]);
      continue;
    }
    const pkg = JSON.parse(readFileSync(`${dir}/package.json`, "utf8")) as PackageJson;
    const peers = Object.keys(pkg.peerDependencies ?? {});
    const external = peers.flatMap((p) => [p, `${p}/*`]);
    const result = await bundle(entry, external);
    rows.push([
      pkg.name,
      fmt.kb(result.minified),
      fmt.kb(result.gzip),
      peers.length ? peers.join(", ") : "–",
    ]);
    if (name === "hono") {
      honoGzip = result.gzip;
      honoParts = result.byPackage;
      const withHono = await bundle(entry, []);
      rows.push([
        `${pkg.name} + hono itself`,
        fmt.kb(withHono.minified),
        fmt.kb(withHono.gzip),
        "–",
      ]);
    }
  }
  console.log(table(["entry (dependencies bundled)", "minified", "gzip", "external (peer)"], rows));
  if (honoParts) {
    const parts = [...honoParts].sort((a, b) => b[1] - a[1]);
    console.log(
      `\n@oidc-auth/hono's minified bytes by package: ${parts.map(([p, b]) => `${p} ${fmt.kb(b)}`).join(", ")}`,
    );
  }
  check(
    "edge bundle of core + Hono adapter with dependencies ≤ 50 KB gzip",
    honoGzip === undefined ? "not present" : fmt.kb(honoGzip),
    honoGzip !== undefined && honoGzip <= 50 * 1024,
  );
}
