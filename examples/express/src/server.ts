import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { OIDCAuthOptions } from "@oidc-auth/express";
import { createApp } from "./app.js";

type Env = Record<string, string | undefined>;

export interface RunningServer {
  url: string;
  port: number;
  auth: ReturnType<typeof createApp>["auth"];
  close(): Promise<void>;
}

/**
 * Serves the example on `HOST`/`PORT` (default 127.0.0.1 and 3000; `PORT=0` picks a free
 * port). `configure` may add variables that depend on the bound URL (e.g. `OIDC_PROXY`):
 * the app is made once the server listens, and answers 503 until then.
 */
export async function startServer(
  env: Env,
  configure?: (url: string) => Env,
  overrides: OIDCAuthOptions = {},
): Promise<RunningServer> {
  let made: ReturnType<typeof createApp> | undefined;
  const server: Server = createServer((req, res) => {
    if (made) {
      made.app(req, res);
      return;
    }
    res.writeHead(503, { "content-type": "text/plain" }).end("starting");
  });
  const hostname = env.HOST || "127.0.0.1";
  const port = env.PORT === undefined || env.PORT === "" ? 3000 : Number(env.PORT);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${hostname}:${bound}`;
  made = createApp({ ...env, ...configure?.(url) }, overrides);
  const { auth } = made;
  return {
    url,
    port: bound,
    auth,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await auth.close();
    },
  };
}
