import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** The machine the numbers come from: Node version, cores, CPU model. */
export function machine(): { node: string; cores: number; cpu: string } {
  let cpu = "unknown";
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: keep "unknown"
  }
  return { node: process.version, cores: availableParallelism(), cpu };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A plain-text table with right-aligned numeric columns. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString("en-US"),
  us: (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)),
  ratio: (n: number) => `${n.toFixed(2)}×`,
  kb: (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`,
};

/** A target checked by reading the numbers: printed at the end of `pnpm bench`. */
export interface Target {
  name: string;
  actual: string;
  met: boolean;
}

export const targets: Target[] = [];

export function check(name: string, actual: string, met: boolean): void {
  targets.push({ name, actual, met });
}

export function section(title: string): void {
  console.log(`\n## ${title}\n`);
}
