/**
 * The adapter's README shows the example's browser-session files whole, so what it documents
 * is what sessions.test.ts runs. The example imports `auth` by relative path (its routes are
 * type-checked by plain tsc, which does not know `$lib`); the README uses `$lib`.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const read = (path: string) => readFile(new URL(path, import.meta.url), "utf8");

const SHOWN = [
  ["src/routes/profile/+page.server.ts", "// src/routes/profile/+page.server.ts"],
  ["src/routes/profile/+page.svelte", "<!-- src/routes/profile/+page.svelte -->"],
  ["src/routes/+page.server.ts", "// src/routes/+page.server.ts"],
] as const;

describe("packages/sveltekit/README.md", () => {
  for (const [file, heading] of SHOWN) {
    it(`shows examples/sveltekit/${file} as the example has it`, async () => {
      const readme = await read("../../../packages/sveltekit/README.md");
      const content = (await read(`../${file}`)).replace(
        /from "(\.\.\/)+lib\/server\/auth\.js"/,
        'from "$lib/server/auth"',
      );
      expect(readme).toContain(`\n${heading}\n${content}\`\`\`\n`);
    });
  }
});
