/**
 * `pnpm bench [micro] [http] [storm] [bundle] [scale] [--rounds N] [--seconds S]`: every part by
 * default. Baselines run in the same process (micro) or against the same server (HTTP),
 * interleaved within the same minute; results are medians, reported as ratios.
 */
import { loadavg } from "node:os";
import { bundleBench } from "./bundle.js";
import { startIdp } from "./fixtures.js";
import { httpBench } from "./http.js";
import { loadGenerator } from "./load.js";
import { microBench } from "./micro.js";
import { machine, targets } from "./report.js";
import { scaleBench } from "./scale.js";
import { stormBench } from "./storm.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
};
const parts = ["micro", "http", "storm", "bundle", "scale"];
const chosen = parts.filter((p) => args.includes(p));
const run = new Set(chosen.length ? chosen : parts);
const rounds = option("rounds", 5);
const seconds = option("seconds", 2);

const m = machine();
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
console.log("# oidc-auth benchmarks\n");
console.log(`node ${m.node} · ${m.cores} cores · ${m.cpu} · load generator ${loadGenerator()}`);
console.log(`${new Date().toISOString()} · load average at start: ${load()}`);
const started = Date.now();

const idp = await startIdp();
try {
  if (run.has("micro")) await microBench(idp, { rounds, ms: 500 });
  if (run.has("http")) await httpBench(idp, { rounds, seconds });
  if (run.has("storm")) await stormBench();
  if (run.has("bundle")) await bundleBench();
  if (run.has("scale")) await scaleBench({ rounds, seconds });
} finally {
  await idp.stop();
}

console.log("\n## targets\n");
for (const t of targets) console.log(`${t.met ? "met   " : "MISSED"}  ${t.name}: ${t.actual}`);
console.log(
  `\nload average at end: ${load()} · took ${Math.round((Date.now() - started) / 1000)} s`,
);
