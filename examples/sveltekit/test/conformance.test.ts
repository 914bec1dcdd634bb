import { describeConformance } from "../../../test-support/conformance.js";
import { startExample } from "./start.js";

// `node build` (adapter-node) in a child process, built first when needed; what depends on
// the URL comes from start.ts's `configure`.
describeConformance("sveltekit", (env) =>
  startExample(env, (url) => ({ OIDC_PROXY: url, OIDC_REDIRECT_URIS: `${url}/callback` })),
);
