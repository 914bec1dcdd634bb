import type { EndpointName, ResolvedConfig } from "./config.js";
import type { EndpointHandler } from "./context.js";
import { OIDCAuthError } from "./errors.js";
import { backchannelLogout } from "./handlers/backchannel-logout.js";
import { callback } from "./handlers/callback.js";
import { device } from "./handlers/device.js";
import { jwks } from "./handlers/jwks.js";
import { login } from "./handlers/login.js";
import { logout } from "./handlers/logout.js";
import { token } from "./handlers/token.js";
import { userinfo } from "./handlers/userinfo.js";

export type HttpMethod = "GET" | "POST";

/** One served endpoint: its name, methods and path (relative to the prefix). */
export interface Endpoint {
  name: EndpointName;
  methods: readonly HttpMethod[];
  path: string;
  handler: EndpointHandler;
}

const HANDLERS: Record<
  EndpointName,
  { methods: HttpMethod[]; handler: EndpointHandler; brokerOnly?: true }
> = {
  login: { methods: ["GET"], handler: login },
  callback: { methods: ["GET"], handler: callback },
  token: { methods: ["POST"], handler: token },
  device: { methods: ["POST"], handler: device },
  logout: { methods: ["GET", "POST"], handler: logout },
  userinfo: { methods: ["GET"], handler: userinfo },
  jwks: { methods: ["GET"], handler: jwks, brokerOnly: true },
  backchannelLogout: { methods: ["POST"], handler: backchannelLogout },
};

/** The enabled endpoints, in a fixed order. */
export function enabledEndpoints(config: ResolvedConfig): Endpoint[] {
  const endpoints: Endpoint[] = [];
  for (const [name, { methods, handler, brokerOnly }] of Object.entries(HANDLERS) as [
    EndpointName,
    (typeof HANDLERS)[EndpointName],
  ][]) {
    const path = config.routes[name];
    if (path === null || (brokerOnly && !config.brokerMode)) continue;
    endpoints.push({ name, methods, path, handler });
  }
  return endpoints;
}

/** Normalises a mount prefix: "" or "/api" (leading slash, no trailing slash). */
export function normalisePrefix(prefix: string | undefined): string {
  if (!prefix || prefix === "/") return "";
  const withSlash = prefix.startsWith("/") ? prefix : `/${prefix}`;
  return withSlash.replace(/\/+$/, "");
}

/**
 * The endpoint serving `method` at `pathname` (the prefix included), or the error to
 * answer: 404 for an unknown path, 405 with `Allow` for a known path and another method.
 */
export function matchEndpoint(
  endpoints: readonly Endpoint[],
  prefix: string,
  pathname: string,
  method: string,
): Endpoint | OIDCAuthError {
  return endpointForMethod(
    endpoints.filter((e) => `${prefix}${e.path}` === pathname),
    method,
  );
}

/** The one of `candidates` (same path) that serves `method`: 404 without any, 405 + Allow. */
export function endpointForMethod(
  candidates: readonly Endpoint[],
  method: string,
): Endpoint | OIDCAuthError {
  if (candidates.length === 0) return new OIDCAuthError(404, "not_found", "No such endpoint.");
  const endpoint = candidates.find((e) => (e.methods as readonly string[]).includes(method));
  if (endpoint) return endpoint;
  return new OIDCAuthError(405, "invalid_request", "Method not allowed.", {
    Allow: candidates.flatMap((e) => e.methods).join(", "),
  });
}
