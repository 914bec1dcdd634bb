import { silentLogger } from "@oidc-auth/express";
import { describeConformance } from "../../../test-support/conformance.js";
import { startServer } from "../src/server.js";

// In process: the server `pnpm start` runs, configured only by the suite's env and its URL.
describeConformance("express", async (env) => {
  const server = await startServer(
    { ...env, PORT: "0" },
    (url) => ({ OIDC_PROXY: url, OIDC_REDIRECT_URIS: `${url}/callback` }),
    { logger: silentLogger },
  );
  return { url: server.url, close: () => server.close() };
});
