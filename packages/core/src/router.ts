import type { EndpointName, ResolvedConfig } from "./config.js";
import type { EndpointHandler } from "./context.js";
import { callback } from "./handlers/callback.js";
import { device } from "./handlers/device.js";
import { login } from "./handlers/login.js";
import { logout } from "./handlers/logout.js";
import { token } from "./handlers/token.js";
import { userinfo } from "./handlers/userinfo.js";

/** One served endpoint: its name, method and path (relative to the prefix). */
export interface Endpoint {
  name: EndpointName;
  method: "GET" | "POST";
  path: string;
  handler: EndpointHandler;
}

const HANDLERS: Record<EndpointName, { method: "GET" | "POST"; handler: EndpointHandler }> = {
  login: { method: "GET", handler: login },
  callback: { method: "GET", handler: callback },
  token: { method: "POST", handler: token },
  device: { method: "POST", handler: device },
  logout: { method: "GET", handler: logout },
  userinfo: { method: "GET", handler: userinfo },
};

/** The enabled endpoints, in a fixed order. */
export function enabledEndpoints(config: ResolvedConfig): Endpoint[] {
  const endpoints: Endpoint[] = [];
  for (const [name, { method, handler }] of Object.entries(HANDLERS) as [
    EndpointName,
    (typeof HANDLERS)[EndpointName],
  ][]) {
    const path = config.routes[name];
    if (path !== null) endpoints.push({ name, method, path, handler });
  }
  return endpoints;
}

/** Normalises a mount prefix: "" or "/api" (leading slash, no trailing slash). */
export function normalisePrefix(prefix: string | undefined): string {
  if (!prefix || prefix === "/") return "";
  const withSlash = prefix.startsWith("/") ? prefix : `/${prefix}`;
  return withSlash.replace(/\/+$/, "");
}
