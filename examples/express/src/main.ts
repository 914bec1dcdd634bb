import { startServer } from "./server.js";

// Serves the example with the configuration of the environment (OIDC_*, HOST, PORT).
const running = await startServer(process.env);
console.log(`oidc-auth Express example listening on ${running.url}`);
const stop = () => void running.close().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
