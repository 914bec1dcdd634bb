import type { OIDCAuthOptions } from "@oidc-auth/hono";
import { HonoOIDCAuth } from "@oidc-auth/hono";
import { Hono } from "hono";
/**
 * The example app: the auth endpoints under /api, a public route, protected routes and an
 * optional one, and the demo page. All configuration comes from `OIDC_*` variables.
 */
export declare function createApp(
  env: Record<string, string | undefined>,
  overrides?: OIDCAuthOptions,
): {
  app: Hono<import("hono/types").BlankEnv, import("hono/types").BlankSchema, "/">;
  auth: HonoOIDCAuth;
};
