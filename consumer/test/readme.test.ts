/**
 * The README's "Use it in your app" shows the consumer apps' files: each file the consumer
 * test installs and runs appears there verbatim, so the documentation is what was tested.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./support.js";

const SHOWN = [
  "hono/server.js",
  "express/server.js",
  "next/src/lib/auth.ts",
  "next/src/app/api/auth/v2/[...oidc]/route.ts",
  "next/src/app/api/me/route.ts",
  "next/src/app/api/edge/me/route.ts",
  "sveltekit/src/lib/server/auth.ts",
  "sveltekit/src/hooks.server.ts",
  "sveltekit/src/routes/api/me/+server.ts",
  "sveltekit/src/app.d.ts",
  "sveltekit/svelte.config.js",
  "worker/worker.js",
];

describe("the README's app files", () => {
  for (const file of SHOWN) {
    it(`shows consumer/apps/${file} as the consumer test runs it`, async () => {
      const readme = await readFile(join(REPO, "README.md"), "utf8");
      const content = await readFile(join(REPO, "consumer", "apps", file), "utf8");
      expect(readme).toContain(`\n${content}\`\`\`\n`);
    });
  }

  it("shows the examples' auth files as the consumer apps have them", async () => {
    const pairs = [
      ["examples/next/src/lib/auth.ts", "consumer/apps/next/src/lib/auth.ts"],
      [
        "examples/sveltekit/src/lib/server/auth.ts",
        "consumer/apps/sveltekit/src/lib/server/auth.ts",
      ],
      ["examples/next/next.config.ts", "consumer/apps/next/next.config.ts"],
    ];
    for (const [example, app] of pairs) {
      const a = await readFile(join(REPO, example as string), "utf8");
      const b = await readFile(join(REPO, app as string), "utf8");
      expect(a, example).toBe(b);
    }
  });
});
