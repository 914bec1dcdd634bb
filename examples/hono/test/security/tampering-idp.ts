import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";

type Json = Record<string, unknown>;

/**
 * A test server standing in for the IdP beside the real dev IdP: it forwards every request
 * to the dev IdP and can tamper with two answers, the discovery document (whose
 * `token_endpoint` it points at itself) and the token endpoint's JSON. An app configured
 * with its `discoveryUrl` and the dev IdP's issuer talks to the real IdP through it; the
 * browser still logs in at the real IdP.
 */
export interface TamperingIdp {
  /** `<base>/.well-known/openid-configuration` of this server. */
  discoveryUrl: string;
  /** Changes the discovery document (after token_endpoint was pointed here). */
  discovery: ((doc: Json) => Json) | undefined;
  /** Changes a successful token endpoint answer. */
  token: ((body: Json) => Json | Promise<Json>) | undefined;
  /** Requests that reached the token endpoint through this server. */
  tokenCalls: number;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startTamperingIdp(idp: DevIdp): Promise<TamperingIdp> {
  let base = "";
  const state: TamperingIdp = {
    discoveryUrl: "",
    discovery: undefined,
    token: undefined,
    tokenCalls: 0,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
  let tokenPath = "/token";
  const server: Server = createServer(async (request, response) => {
    try {
      const path = request.url ?? "/";
      const headers: Record<string, string> = {};
      for (const [key, value] of Object.entries(request.headers)) {
        if (typeof value === "string" && key !== "host" && key !== "content-length") {
          headers[key] = value;
        }
      }
      const body = request.method === "GET" ? undefined : new Uint8Array(await readBody(request));
      const upstream = await fetch(`${idp.issuer}${path}`, {
        method: request.method ?? "GET",
        headers,
        body,
        redirect: "manual",
      });
      let text = await upstream.text();
      const pathname = new URL(path, base).pathname;
      if (pathname === "/.well-known/openid-configuration" && upstream.ok) {
        let doc = JSON.parse(text) as Json;
        tokenPath = new URL(String(doc.token_endpoint)).pathname;
        doc.token_endpoint = `${base}${tokenPath}`;
        if (state.discovery) doc = state.discovery(doc);
        text = JSON.stringify(doc);
      } else if (pathname === tokenPath) {
        state.tokenCalls++;
        if (upstream.ok && state.token) {
          text = JSON.stringify(await state.token(JSON.parse(text) as Json));
        }
      }
      response.writeHead(upstream.status, {
        "content-type": upstream.headers.get("content-type") ?? "application/json",
        "cache-control": "no-store",
      });
      response.end(text);
    } catch (err) {
      response.writeHead(599);
      response.end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.discoveryUrl = `${base}/.well-known/openid-configuration`;
  return state;
}
