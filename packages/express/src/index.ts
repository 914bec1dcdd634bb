import type {
  AuthenticateOptions,
  BrowserSession,
  EndpointName,
  IDToken,
  OIDCAuthOptions,
} from "@oidc-auth/core";
import { errorResponse, OIDCAuth, OIDCAuthError } from "@oidc-auth/core";
import { sendResponse } from "@remix-run/node-fetch-server";
import type {
  Request as ExpressRequest,
  Response as ExpressResponse,
  NextFunction,
  RequestHandler,
} from "express";
import { endpointRequest, guardRequest, socketAddress } from "./request.js";

declare global {
  // Express's own extension point for what middleware adds to every request.
  namespace Express {
    interface Request {
      /**
       * The verified token, set by oidc-auth's guards: always a token behind
       * `auth.required()`; the token or `null` behind `auth.optional()`; `undefined` on a
       * route without a guard.
       */
      auth?: IDToken | null;
    }
  }
}

/**
 * oidc-auth for Express 5: the auth endpoints as one middleware to mount, and guards that
 * put the verified token in `req.auth`.
 *
 * @example
 * ```js
 * const auth = new ExpressOIDCAuth(optionsFromEnv(process.env));
 * const app = express();
 * app.use("/api", auth.router());                                   // /api/auth/v2/*
 * app.get("/api/me", auth.required(), (req, res) => res.json({ sub: req.auth.sub }));
 * app.get("/api/hello", auth.optional(), (req, res) => res.send(req.auth?.sub ?? "anonymous"));
 * ```
 */
export class ExpressOIDCAuth extends OIDCAuth {
  constructor(options: OIDCAuthOptions = {}) {
    super(options);
  }

  /**
   * Middleware serving every enabled endpoint at its path below where it is mounted
   * (`app.use("/api", auth.router())`); other paths go on to the next handler. Mount it
   * before body parsers; a body one of them has read is rebuilt from `req.body`.
   */
  router(options: RouterOptions = {}): RequestHandler {
    const clientIp = options.clientIp ?? socketAddress;
    const byPath = new Map<string, { name: EndpointName; methods: readonly string[] }[]>();
    for (const { name, methods, path } of this.endpoints) {
      byPath.set(path, [...(byPath.get(path) ?? []), { name, methods }]);
    }
    const logger = this.config.logger;
    return (req, res, next) => {
      const atPath = byPath.get(req.path);
      if (!atPath) {
        next();
        return;
      }
      // Endpoints moved to one path serve different methods; another method is the core's 405.
      const { name } = (atPath.find((e) => e.methods.includes(req.method)) ?? atPath[0]) as {
        name: EndpointName;
      };
      let request: Request;
      try {
        request = endpointRequest(req, res);
      } catch (err) {
        if (err instanceof OIDCAuthError && err.status >= 500) logger.error(err.description);
        send(res, errorResponse(badRequestUnlessOurs(err)), next);
        return;
      }
      this.handleEndpoint(name, request, { clientIp: clientIp(req) }).then(
        (response) => send(res, response, next),
        next,
      );
    };
  }

  /**
   * The browser session of an Express request (see the core's `session()`): the one the
   * guard looked up for this request, or a lookup now. Renewed or cleared cookies are added
   * to `res` when it is given (the guards do this by themselves).
   *
   * @example
   * ```js
   * app.get("/profile", auth.required({ accept: "session", redirectToLogin: true }), async (req, res) => {
   *   const session = await auth.sessionOf(req); // { token, csrfToken, expiresAt }
   * });
   * ```
   */
  async sessionOf(req: ExpressRequest, res?: ExpressResponse): Promise<BrowserSession | null> {
    const request = guardRequest(req);
    const session = await this.session(request);
    if (res) for (const cookie of this.responseCookies(request)) appendOnce(res, cookie);
    return session;
  }

  /**
   * Lets a request through only with a valid token (and the route's scopes and claims),
   * which it puts in `req.auth`; answers anything else with a 401/403/503 JSON error and
   * `WWW-Authenticate` itself.
   *
   * @example
   * ```js
   * app.get("/api/admin", auth.required({ scopes: "admin", claims: { roles: ["admins"] } }), handler);
   * ```
   */
  required(options: GuardOptions = {}): RequestHandler {
    const guard = this.guard(options);
    return guardMiddleware(this, (request) => guard.check(request), true, options);
  }

  /**
   * Sets `req.auth` to the verified token, or `null` for a request without an acceptable
   * one; never refuses.
   */
  optional(options: GuardOptions = {}): RequestHandler {
    const guard = this.guard(options);
    return guardMiddleware(this, (request) => guard.checkOptional(request), false, options);
  }
}

/** Adds a Set-Cookie value unless the response already carries it. */
function appendOnce(res: ExpressResponse, cookie: string): void {
  const present = res.getHeader("Set-Cookie");
  const values = Array.isArray(present) ? present : present === undefined ? [] : [String(present)];
  if (!values.includes(cookie)) res.append("Set-Cookie", cookie);
}

/** Options of `router()`. */
export interface RouterOptions {
  /**
   * The client's address for the per-IP rate limits. Default: the socket's peer
   * (`req.socket.remoteAddress`). Behind a proxy, prefer the core's `clientIpHeader`
   * option, or pass `(req) => req.ip` with Express's `trust proxy` set.
   */
  clientIp?: (req: ExpressRequest) => string | undefined;
}

/** Options of `required()` and `optional()`: the route's scopes and claim constraints. */
export type GuardOptions = Omit<AuthenticateOptions, "optional">;

/** A request the adapter could not turn into a Fetch request (e.g. a malformed Host). */
function badRequestUnlessOurs(err: unknown): OIDCAuthError {
  return err instanceof OIDCAuthError
    ? err
    : new OIDCAuthError(400, "invalid_request", "Malformed request.");
}

/** Writes a Fetch Response through the bridge; a failure to write goes to Express. */
function send(res: ExpressResponse, response: Response, next: NextFunction): void {
  sendResponse(res, response).catch(next);
}

/**
 * The guard as Express middleware: `req.auth` set, then the next handler. A token the
 * cache holds is answered synchronously. With `refuses`, a refusal is answered here (the
 * core's JSON error with `WWW-Authenticate`); errors of later handlers are never caught.
 */
function guardMiddleware<T extends IDToken | null>(
  auth: OIDCAuth,
  check: (request: Request) => T | Promise<T>,
  refuses: boolean,
  options: GuardOptions,
): RequestHandler {
  const refuse = (request: Request, res: ExpressResponse, next: NextFunction) => (err: unknown) => {
    if (refuses) send(res, auth.refusedResponse(err, request, options), next);
    else next(err);
  };
  return (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
    let answer: T | Promise<T>;
    let request: Request;
    try {
      request = guardRequest(req);
      answer = check(request);
    } catch (err) {
      // A request the bridge cannot read carries no acceptable token.
      if (refuses) send(res, errorResponse(badRequestUnlessOurs(err)), next);
      else {
        req.auth = null;
        next();
      }
      return;
    }
    if (!(answer instanceof Promise)) {
      req.auth = answer;
      next();
      return;
    }
    answer.then(
      (token) => {
        req.auth = token;
        // A session renewed (or a bad cookie cleared) while authenticating this request.
        for (const cookie of auth.responseCookies(request)) appendOnce(res, cookie);
        next();
      },
      refuse(request, res, next),
    );
  };
}

export type {
  AuthenticateOptions,
  BrowserSession,
  HealthCheck,
  HealthReport,
  IDToken,
  Logger,
  OIDCAuthOptions,
  RouteGuard,
} from "@oidc-auth/core";
export {
  ConfigError,
  errorResponse,
  MemoryBrokerStore,
  NotReadyError,
  OIDCAuthError,
  optionsFromEnv,
  silentLogger,
} from "@oidc-auth/core";
