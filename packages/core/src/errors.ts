/**
 * The one error type of oidc-auth. Every failure is created where it happens, as a value
 * with an HTTP status and an RFC 6749/6750 error code, and turned into a Response in
 * exactly one place: {@link errorResponse}.
 */
export class OIDCAuthError extends Error {
  override readonly name = "OIDCAuthError";

  constructor(
    /** HTTP status of the response. */
    readonly status: number,
    /** RFC 6749 §5.2 / RFC 6750 §3.1 error code (or a close sibling such as `upstream_error`). */
    readonly error: string,
    /** Human-readable text. Fixed strings only: never echoes attacker input or secrets. */
    readonly description: string,
    /** Extra response headers, e.g. `WWW-Authenticate`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

const BEARER_REALM = 'Bearer realm="oidc-auth"';

/** 400 with an RFC 6749 error code. */
export function badRequest(error: string, description: string): OIDCAuthError {
  return new OIDCAuthError(400, error, description);
}

/** 401 for a request without usable credentials (RFC 6750 §3.1: no error code in the challenge). */
export function missingToken(): OIDCAuthError {
  return new OIDCAuthError(401, "invalid_token", "Bearer token required.", {
    "WWW-Authenticate": BEARER_REALM,
  });
}

/** 401 for a token that failed verification. The description is the same for every cause. */
export function invalidToken(): OIDCAuthError {
  const description = "The access token is invalid or expired.";
  return new OIDCAuthError(401, "invalid_token", description, {
    "WWW-Authenticate": `${BEARER_REALM}, error="invalid_token", error_description="${description}"`,
  });
}

/** 400 for a request that sends its token in more than one way (RFC 6750 §3.1). */
export function tokenInTwoPlaces(): OIDCAuthError {
  const description = "Send the access token in the Authorization header only.";
  return new OIDCAuthError(400, "invalid_request", description, {
    "WWW-Authenticate": `${BEARER_REALM}, error="invalid_request", error_description="${description}"`,
  });
}

/** 403 for a valid token that lacks a required scope. */
export function insufficientScope(required: string): OIDCAuthError {
  return new OIDCAuthError(403, "insufficient_scope", "The token lacks a required scope.", {
    "WWW-Authenticate": `${BEARER_REALM}, error="insufficient_scope", scope="${required}"`,
  });
}

/** 403 for a valid token whose claims do not satisfy the route's constraints. */
export function claimsNotSatisfied(): OIDCAuthError {
  return new OIDCAuthError(403, "access_denied", "The token's claims do not grant access.", {
    "WWW-Authenticate": `${BEARER_REALM}, error="insufficient_scope"`,
  });
}

/** 503: the identity provider (or a peer) could not be reached. */
export function upstreamUnavailable(): OIDCAuthError {
  return new OIDCAuthError(
    503,
    "temporarily_unavailable",
    "The identity provider is unreachable. Try again later.",
    { "Retry-After": "5" },
  );
}

/** 502: the identity provider answered with something that is not a valid protocol response. */
export function upstreamInvalid(): OIDCAuthError {
  return new OIDCAuthError(
    502,
    "upstream_error",
    "The identity provider returned an invalid response.",
  );
}

/** Headers every JSON answer of the auth endpoints carries. */
export const NO_STORE_HEADERS: Record<string, string> = {
  "Content-Type": "application/json",
  "Cache-Control": "no-store",
  Pragma: "no-cache",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/**
 * Turns any thrown value into a JSON Response. Known errors keep their status and code;
 * anything else becomes a generic 500 without details (the caller logs the cause).
 */
export function errorResponse(err: unknown): Response {
  const known =
    err instanceof OIDCAuthError ? err : new OIDCAuthError(500, "server_error", "Internal error.");
  const body = {
    error: known.error,
    error_description: known.description,
    detail: known.description,
  };
  return new Response(JSON.stringify(body), {
    status: known.status,
    headers: { ...NO_STORE_HEADERS, ...known.headers },
  });
}

/** 503: the broker's store could not be reached. Nothing was lost; try again. */
export function storeUnavailable(): OIDCAuthError {
  return new OIDCAuthError(
    503,
    "temporarily_unavailable",
    "The session store is unavailable. Try again later.",
    { "Retry-After": "2" },
  );
}

/**
 * 429: a rate limit refused the request. RFC 6749 has no code for it; `slow_down` is the
 * one RFC 8628 defines for a client asking too often, and what py-oidc-auth-client's device
 * polling backs off on (any other code ends its login).
 */
export function tooManyRequests(retryAfterSec: number): OIDCAuthError {
  return new OIDCAuthError(429, "slow_down", "Too many requests. Try again later.", {
    "Retry-After": String(retryAfterSec),
  });
}
