import { Agent, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small round-robin load balancer on 127.0.0.1: each request goes to the next backend;
 * a backend that refuses the connection is skipped (and the request tried on the next),
 * as a load balancer's health check would. The client's address goes on in
 * `X-Forwarded-For` (the backends read it with `clientIpHeader: "x-forwarded-for"`), as
 * the test may also set on its requests to pose as several clients.
 */
export interface RoundRobin {
  url: string;
  /** Requests each backend answered. */
  served: Map<string, number>;
  close(): Promise<void>;
}

export async function startRoundRobin(backends: readonly string[]): Promise<RoundRobin> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const served = new Map<string, number>(backends.map((b) => [b, 0]));
  let next = 0;
  const server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
    incoming.on("end", () => {
      const body = Buffer.concat(chunks);
      const forwarded = incoming.headers["x-forwarded-for"] ?? incoming.socket.remoteAddress;
      const attempt = (tries: number) => {
        const backend = backends[next++ % backends.length] as string;
        const target = new URL(incoming.url ?? "/", backend);
        const upstream = httpRequest(
          target,
          {
            method: incoming.method,
            agent,
            headers: { ...incoming.headers, host: target.host, "x-forwarded-for": forwarded },
          },
          (answer) => {
            served.set(backend, (served.get(backend) ?? 0) + 1);
            outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(outgoing);
          },
        );
        upstream.on("error", (err: NodeJS.ErrnoException) => {
          const refused = err.code === "ECONNREFUSED" || err.code === "ECONNRESET";
          if (refused && tries < backends.length && !outgoing.headersSent) {
            attempt(tries + 1);
            return;
          }
          if (!outgoing.headersSent) outgoing.writeHead(502).end();
          else outgoing.destroy();
        });
        upstream.end(body);
      };
      attempt(1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
