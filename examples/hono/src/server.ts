import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import type { OIDCAuthOptions } from "@oidc-auth/hono";
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
 * port). `configure` may add variables that depend on the bound URL (e.g. `OIDC_PROXY`).
 */
export async function startServer(
  env: Env,
  configure?: (url: string) => Env,
  overrides: OIDCAuthOptions = {},
): Promise<RunningServer> {
  // The node server's bindings (its `incoming` request) go on to the app: the auth routes
  // read the client's address from them for the per-IP rate limits.
  let handler: ((request: Request, env: unknown) => Response | Promise<Response>) | undefined;
  const server = createAdaptorServer({
    fetch: (request: Request, env: unknown) =>
      handler ? handler(request, env) : new Response("starting", { status: 503 }),
  });
  const hostname = env.HOST || "127.0.0.1";
  const port = env.PORT === undefined || env.PORT === "" ? 3000 : Number(env.PORT);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${hostname}:${bound}`;
  const { app, auth } = createApp({ ...env, ...configure?.(url) }, overrides);
  const qr = qrEncoderSource();
  app.get("/demo/qr.js", (c) =>
    c.body(qr, 200, {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": "public, max-age=86400",
    }),
  );
  handler = (request, env) => app.fetch(request, env);
  return {
    url,
    port: bound,
    auth,
    close: async () => {
      await new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => resolve());
      });
      await auth.close();
    },
  };
}

/**
 * The demo page's QR encoder, @paulmillr/qr's ES module (one file, no imports, no
 * dependencies), served from this origin so the page loads nothing from outside. Only the
 * Node server offers it; on an edge runtime the page shows the device link without a QR code.
 */
function qrEncoderSource(): string {
  const main = createRequire(import.meta.url).resolve("@paulmillr/qr"); // …/qr/index.js (CommonJS)
  return readFileSync(join(dirname(main), "esm", "index.js"), "utf8");
}
