import type { AuthenticateOptions, IDToken, OIDCAuthOptions } from "@oidc-auth/core";
import { errorResponse, OIDCAuth } from "@oidc-auth/core";
import type { MiddlewareHandler } from "hono";
import { Hono } from "hono";

/** Context variables the guards set: `c.get("token")`. */
export interface OIDCAuthVariables {
  token: IDToken;
}

/** The Hono environment of routes behind `required()`. */
export interface OIDCAuthEnv {
  Variables: OIDCAuthVariables;
}

/** The Hono environment of routes behind `optional()`: the token may be null. */
export interface OptionalOIDCAuthEnv {
  Variables: { token: IDToken | null };
}

/**
 * oidc-auth for Hono: the auth endpoints as a sub-app and guards as middleware.
 *
 * @example
 * ```ts
 * const auth = new HonoOIDCAuth(optionsFromEnv(process.env));
 * const app = new Hono();
 * app.route("/api", auth.routes());                       // /api/auth/v2/*
 * app.get("/me", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
 * app.get("/hello", auth.optional(), (c) => c.text(c.get("token")?.sub ?? "anonymous"));
 * ```
 */
export class HonoOIDCAuth extends OIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options);
  }

  /** A Hono app serving every enabled endpoint at its path; mount it with `app.route()`. */
  routes(): Hono {
    const app = new Hono();
    for (const { name, methods, path } of this.endpoints) {
      app.on([...methods], path, (c) => this.handleEndpoint(name, c.req.raw));
    }
    return app;
  }

  /** Middleware that lets a request through only with a valid token (401/403/503 otherwise). */
  required(options: Omit<AuthenticateOptions, "optional"> = {}): MiddlewareHandler<OIDCAuthEnv> {
    return async (c, next) => {
      try {
        c.set("token", await this.authenticate(c.req.raw, options));
      } catch (err) {
        return errorResponse(err);
      }
      await next();
    };
  }

  /** Middleware that sets `token` to the verified token, or `null` for anything else. */
  optional(
    options: Omit<AuthenticateOptions, "optional"> = {},
  ): MiddlewareHandler<OptionalOIDCAuthEnv> {
    const optionalOptions = { ...options, optional: true } as const;
    return async (c, next) => {
      c.set("token", await this.authenticate(c.req.raw, optionalOptions));
      await next();
    };
  }
}

export type { AuthenticateOptions, IDToken, Logger, OIDCAuthOptions } from "@oidc-auth/core";
export {
  errorResponse,
  MemoryBrokerStore,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
