import * as oauth from "oauth4webapi";

/**
 * Why a request to the identity provider failed, in the words an operator needs: the
 * class of cause, the URL that was asked (never credentials or a query), and one sentence
 * that says what to check. Built from the error's name, code and status only: an upstream
 * error message is never repeated.
 */
export interface IdpFailureDiagnosis {
  /** What went wrong, as a class of cause. */
  cause:
    | "dns"
    | "refused"
    | "tls"
    | "timeout"
    | "network"
    | "http-status"
    | "not-json"
    | "invalid-document"
    | "issuer-mismatch"
    | "insecure-http"
    | "unknown";
  /** The URL asked, without userinfo, query or fragment. */
  url: string;
  /** The HTTP status, for `http-status`. */
  status?: number;
  /** The low-level code (e.g. `ENOTFOUND`, `CERT_HAS_EXPIRED`), when the platform gave one. */
  code?: string;
  /** True when trying again later may help (the IdP is down or unreachable): a 503, not a 502. */
  transient: boolean;
  /** One sentence: what failed, at which URL, what to check. */
  message: string;
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);
const REFUSED_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);
const TIMEOUT_CODES = new Set(["ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT"]);

/** TLS failures: Node's certificate codes, OpenSSL's `ERR_SSL_*`, `ERR_TLS_*`, `EPROTO`. */
function isTlsCode(code: string): boolean {
  return (
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code === "EPROTO" ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH/.test(code)
  );
}

/** The URL for a message: no userinfo, query or fragment (they may carry credentials). */
export function redactUrl(url: string | URL): string {
  try {
    const copy = new URL(url);
    copy.username = "";
    copy.password = "";
    copy.search = "";
    copy.hash = "";
    return copy.href;
  } catch {
    return "(not a URL)";
  }
}

/** A value quoted in a message: printable ASCII, at most 200 characters. */
function quoted(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  return JSON.stringify(text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200));
}

/** The platform's error code of a fetch failure (undici puts it on `cause`, or deeper). */
function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && !code.startsWith("OAUTH_") && !code.startsWith("ERR_JOSE")) {
      return code;
    }
    const errors = (current as { errors?: unknown }).errors; // AggregateError (IPv4 and IPv6)
    current = Array.isArray(errors) && errors.length > 0 ? errors[0] : current.cause;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

/** The HTTP status of a failed response, when the error carries it. */
function httpStatus(err: unknown): number | undefined {
  const cause = (err as { cause?: unknown })?.cause;
  // oauth4webapi attaches the Response also to a 200 that is not JSON: not a status problem
  if (cause instanceof Response && (cause.status < 200 || cause.status > 299)) return cause.status;
  // jose: "Expected 200 OK from the JSON Web Key Set HTTP response"
  if (err instanceof Error && /Expected 200 OK/.test(err.message)) return -1;
  return undefined;
}

/** Network-level causes shared by every request to the IdP; undefined when not one. */
function networkDiagnosis(
  url: string,
  err: unknown,
  what: string,
  timeoutSec: number | undefined,
): IdpFailureDiagnosis | undefined {
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  const code = networkCode(err);
  const withCode = (d: Omit<IdpFailureDiagnosis, "url" | "transient" | "code">) => ({
    ...d,
    url,
    transient: true,
    ...(code ? { code } : {}),
  });
  if (isTimeout(err) || (code !== undefined && TIMEOUT_CODES.has(code))) {
    const limit = timeoutSec === undefined ? "in time" : `within ${timeoutSec} s`;
    return withCode({
      cause: "timeout",
      message: `${what} ${url} failed: no answer ${limit} (timeoutSec); is ${host} reachable from here?`,
    });
  }
  if (code === undefined) {
    // undici: TypeError "fetch failed" without a code; workerd: Error "Network connection lost."
    const workerdLost = err instanceof Error && /^Network connection lost\.?$/.test(err.message);
    if ((err instanceof TypeError && /fetch|network|connect/i.test(err.message)) || workerdLost) {
      return withCode({
        cause: "network",
        message: `${what} ${url} failed: the connection to ${host} failed.`,
      });
    }
    return undefined;
  }
  if (DNS_CODES.has(code)) {
    return withCode({
      cause: "dns",
      message: `${what} ${url} failed: the host name ${host} does not resolve (${code}); check the URL's spelling and this machine's DNS.`,
    });
  }
  if (REFUSED_CODES.has(code)) {
    return withCode({
      cause: "refused",
      message: `${what} ${url} failed: the connection to ${host} was refused (${code}); is the identity provider running on that host and port?`,
    });
  }
  if (isTlsCode(code)) {
    return withCode({
      cause: "tls",
      message: `${what} ${url} failed: the TLS handshake with ${host} failed (${code}); check its certificate (or http vs https in the URL).`,
    });
  }
  return withCode({
    cause: "network",
    message: `${what} ${url} failed: the connection to ${host} failed (${code}).`,
  });
}

/** Causes every IdP request shares: network, HTTP status, http refused by policy. */
function commonDiagnosis(
  url: string,
  err: unknown,
  what: string,
  timeoutSec: number | undefined,
  statusHint: string,
): IdpFailureDiagnosis | undefined {
  const network = networkDiagnosis(url, err, what, timeoutSec);
  if (network) return network;
  const status = httpStatus(err);
  if (status !== undefined) {
    const shown = status === -1 ? "a status other than 200" : `HTTP ${status}`;
    return {
      cause: "http-status",
      url,
      ...(status === -1 ? {} : { status }),
      transient: status === -1 || status >= 500 || status === 429,
      message: `${what} ${url} failed: the server answered ${shown}${status >= 500 || status === 429 ? "; the identity provider is failing." : `; ${statusHint}`}`,
    };
  }
  const code = (err as { code?: unknown })?.code;
  if (code === oauth.HTTP_REQUEST_FORBIDDEN || code === oauth.REQUEST_PROTOCOL_FORBIDDEN) {
    return {
      cause: "insecure-http",
      url,
      transient: false,
      message: `${what} ${url} refused: plain http is only allowed on loopback hosts; use https (or allowInsecureRequests for a test IdP).`,
    };
  }
  return undefined;
}

/**
 * Why the discovery of the IdP's metadata failed: DNS, refused, TLS, timeout, an HTTP
 * status, an answer that is not JSON or not metadata, or an issuer other than expected.
 *
 * @example
 * ```ts
 * const d = diagnoseDiscoveryFailure(discoveryUrl, err, { expectedIssuer, timeoutSec: 10 });
 * logger.warn(d.message, { cause: d.cause, url: d.url });
 * ```
 */
export function diagnoseDiscoveryFailure(
  discoveryUrl: string | URL,
  err: unknown,
  options: {
    expectedIssuer?: string | undefined;
    /** The configured `issuer` override, which the document may name instead. */
    configuredIssuer?: string | undefined;
    timeoutSec?: number | undefined;
  } = {},
): IdpFailureDiagnosis {
  const url = redactUrl(discoveryUrl);
  const what = "identity provider discovery at";
  const common = commonDiagnosis(
    url,
    err,
    what,
    options.timeoutSec,
    "check the discovery URL (it ends with /.well-known/openid-configuration, e.g. https://kc.example.org/realms/demo/.well-known/openid-configuration).",
  );
  if (common) return common;
  const code = (err as { code?: unknown })?.code;
  if (code === oauth.JSON_ATTRIBUTE_COMPARISON) {
    const detail = (err as { cause?: { expected?: unknown; body?: { issuer?: unknown } } }).cause;
    if (options.configuredIssuer) {
      return {
        cause: "issuer-mismatch",
        url,
        transient: false,
        message: `${what} ${url} failed: the document's issuer ${quoted(detail?.body?.issuer)} is neither the configured issuer ${quoted(options.configuredIssuer)} nor the one its URL stands for ${quoted(detail?.expected ?? options.expectedIssuer)}; check discoveryUrl and issuer.`,
      };
    }
    return {
      cause: "issuer-mismatch",
      url,
      transient: false,
      message: `${what} ${url} failed: the document's issuer ${quoted(detail?.body?.issuer)} is not the expected ${quoted(detail?.expected ?? options.expectedIssuer)}; the discovery URL must be the issuer + /.well-known/openid-configuration (behind a proxy, fix the IdP's public URL, or set issuer).`,
    };
  }
  if (code === oauth.RESPONSE_IS_NOT_JSON || code === oauth.PARSE_ERROR) {
    return {
      cause: "not-json",
      url,
      transient: false,
      message: `${what} ${url} failed: the answer is not JSON; is this the discovery URL of an OpenID Provider?`,
    };
  }
  if (code === oauth.INVALID_RESPONSE || err instanceof oauth.OperationProcessingError) {
    return {
      cause: "invalid-document",
      url,
      transient: false,
      message: `${what} ${url} failed: the answer is not OpenID Provider metadata (no valid "issuer").`,
    };
  }
  return {
    cause: "unknown",
    url,
    transient: false,
    message: `${what} ${url} failed (${err instanceof Error ? err.name : typeof err}).`,
  };
}

/** Why fetching the IdP's key set (`jwks_uri`) failed; the same causes as discovery. */
export function diagnoseKeySetFailure(
  jwksUri: string | URL,
  err: unknown,
  options: { timeoutSec?: number | undefined } = {},
): IdpFailureDiagnosis {
  const url = redactUrl(jwksUri);
  const what = "the identity provider's key set at";
  const common = commonDiagnosis(
    url,
    err,
    what,
    options.timeoutSec,
    "check jwks_uri in the discovery document (or the jwksUri option).",
  );
  if (common) return common;
  const code = (err as { code?: unknown })?.code;
  if (code === "ERR_JWKS_INVALID" || err instanceof SyntaxError) {
    return {
      cause: "invalid-document",
      url,
      transient: false,
      message: `${what} ${url} is not a JSON Web Key Set.`,
    };
  }
  return {
    cause: "unknown",
    url,
    transient: false,
    message: `${what} ${url} could not be loaded (${err instanceof Error ? err.name : typeof err}).`,
  };
}
