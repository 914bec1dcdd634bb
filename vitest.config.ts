import { defineConfig } from "vitest/config";

/** One vitest project per package and example (DESIGN §1). */
const projects = [
  ["core", "packages/core"],
  ["hono", "packages/hono"],
  ["express", "packages/express"],
  ["next", "packages/next"],
  ["sveltekit", "packages/sveltekit"],
  ["dev-idp", "packages/dev-idp"],
  ["drizzle", "packages/drizzle"],
  ["example-hono", "examples/hono"],
  ["example-express", "examples/express"],
  ["example-next", "examples/next"],
  ["example-sveltekit", "examples/sveltekit"],
] as const;

/**
 * The consumer test (consumer/): packs every package, installs the tarballs with npm into
 * fresh apps in a temporary folder and runs them. Slow (npm installs, framework builds),
 * so its hooks and tests get minutes.
 */
const consumer = {
  extends: true,
  test: {
    name: "consumer",
    include: ["consumer/test/**/*.test.ts"],
    globalSetup: ["consumer/test/global-setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
} as const;

// Tests talk to real parts (dev IdP, real HTTP servers), so hooks get generous timeouts
// and files run one at a time on this 2-core machine.
export default defineConfig({
  test: {
    projects: [
      ...projects.map(([name, dir]) => ({
        extends: true,
        test: { name, include: [`${dir}/test/**/*.test.ts`] },
      })),
      consumer,
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
