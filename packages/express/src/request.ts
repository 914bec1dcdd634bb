import { OIDCAuthError } from "@oidc-auth/core";
import { createHeaders, createRequest } from "@remix-run/node-fetch-server";
import type { Request as ExpressRequest, Response as ExpressResponse } from "express";

/**
 * The Fetch API Request of an auth endpoint, made by the Node bridge
 * (`@remix-run/node-fetch-server`): headers, the body streamed from the socket, and an
 * abort signal tied to the connection. Its URL is the one the client asked for
 * (`req.originalUrl`, mount path included), not Express's path below the mount.
 *
 * A body that a parser mounted before the router (`express.json()`,
 * `express.urlencoded()`, `express.raw()`, `express.text()`) has already read is rebuilt
 * from `req.body`: the socket has nothing left to give, and reading it again would wait
 * forever.
 */
export function endpointRequest(req: ExpressRequest, res: ExpressResponse): Request {
  const url = `${originOf(req)}${req.originalUrl}`;
  if (!bodyWasRead(req)) {
    const bridged = createRequest(req, res);
    return new Request(url, {
      method: bridged.method,
      headers: bridged.headers,
      body: bridged.body,
      signal: bridged.signal,
      // a streamed request body is sent as it comes (undici requires saying so)
      ...(bridged.body ? { duplex: "half" } : {}),
    } as RequestInit);
  }
  const headers = createHeaders(req);
  // The rebuilt body has its own length; the client's no longer describes it.
  headers.delete("content-length");
  headers.delete("transfer-encoding");
  return new Request(url, { method: req.method, headers, body: rebuiltBody(req) });
}

/**
 * What a guard looks at: the headers (the bearer token, the session cookie, `Origin`), the
 * method (unsafe ones by cookie must be same-origin), the origin the client addressed (the
 * session cookie's name and the same-origin rule depend on it) and the query (a token
 * there is refused). No body: reading it here would take it from the route's own parser.
 * One Request per Express request, so the guard and `sessionOf(req)` share one session
 * lookup.
 */
export function guardRequest(req: ExpressRequest): Request {
  let request = guardRequests.get(req);
  if (!request) {
    request = new Request(new URL(req.originalUrl, originOf(req)), {
      method: req.method,
      headers: createHeaders(req),
    });
    guardRequests.set(req, request);
  }
  return request;
}

const guardRequests = new WeakMap<ExpressRequest, Request>();

/** The client's address for the per-IP rate limits: the socket's peer. */
export function socketAddress(req: ExpressRequest): string | undefined {
  return req.socket.remoteAddress;
}

/** `http://host` as the client addressed it; Express's `req.protocol` honours `trust proxy`. */
function originOf(req: ExpressRequest): string {
  return `${req.protocol}://${req.headers.host ?? "localhost"}`;
}

/** Whether something before the router consumed the request body. */
function bodyWasRead(req: ExpressRequest): boolean {
  if (req.method === "GET" || req.method === "HEAD") return false;
  return req.readableEnded || (req.body !== undefined && req.body !== null);
}

/**
 * The body the client sent, rebuilt from what a body parser made of it. Bytes and text
 * come back as they were; a parsed JSON object is serialised again; a parsed form is
 * encoded again when every value is a string (or a repeated one), as the auth endpoints
 * require anyway. Anything else cannot be rebuilt faithfully.
 */
function rebuiltBody(req: ExpressRequest): BodyInit {
  const body: unknown = req.body;
  if (body instanceof Uint8Array) return new Uint8Array(body);
  if (typeof body === "string") return body;
  if (body !== null && typeof body === "object") {
    if (req.is("application/json")) return JSON.stringify(body);
    if (req.is("application/x-www-form-urlencoded")) return formOf(body);
  }
  throw new OIDCAuthError(
    500,
    "server_error",
    "The request body was read before oidc-auth's router: mount auth.router() before any body parser.",
  );
}

/** A parsed form encoded again; nested values (qs's `a[b]=c`) are not parameters of ours. */
function formOf(parsed: object): URLSearchParams {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(parsed)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (typeof item !== "string") {
        throw new OIDCAuthError(400, "invalid_request", "Every parameter must be a string.");
      }
      form.append(key, item);
    }
  }
  return form;
}
