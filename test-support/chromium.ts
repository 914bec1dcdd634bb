/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by
 * playwright-core (no browser download; the machines have no outside network).
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { Browser } from "playwright-core";
import { chromium } from "playwright-core";

export type { Browser, BrowserContext, Page, Response as PageResponse } from "playwright-core";

/** Flags for a closed network: no background, update or sync connections at start. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The Chromium binary: `CHROMIUM_PATH`, else `chromium` on the PATH. Throws (so a browser
 * test fails rather than skips) with the install command when there is none.
 */
export function chromiumPath(): string {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`CHROMIUM_PATH=${explicit} is not an executable file.`);
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, "chromium"))) return join(dir, "chromium");
  }
  throw new Error(
    "Chromium not found: the browser tests need Debian's chromium package. Install it with `apt-get install -y chromium` (as root; .ci/run does this), or set CHROMIUM_PATH.",
  );
}

/**
 * Launches headless Chromium. Playwright gives every launch a fresh, temporary user-data
 * directory and removes it on close.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 30_000 });
}
