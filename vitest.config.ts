import { defineConfig } from "vitest/config";

// One vitest project per package; tests talk to real parts (dev IdP, PGlite, Postgres),
// so hooks get generous timeouts and files run one at a time on this 2-core machine.
export default defineConfig({
  test: {
    projects: ["packages/*", "examples/*"].map((glob) => ({
      extends: true,
      test: { name: glob.split("/")[0], include: [`${glob}/test/**/*.test.ts`] },
    })),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
