import { describeConformance } from "../../../test-support/conformance.js";
import { startExample } from "./start.js";

// `next start` in a child process (built first when the build is missing or stale).
// Typechecking this file needs `{ "path": "../../test-support" }` in tsconfig.json's references.
describeConformance("next", startExample);
