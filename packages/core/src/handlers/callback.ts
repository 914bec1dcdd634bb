import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { singleParam } from "../request-body.js";
import { exchangeCode, exchangeCodeForToken } from "./code-exchange.js";

const ERROR_CODE = /^[a-z_]{1,64}$/;

/**
 * `GET callback`: the IdP's redirect after a browser login. The transaction must come from
 * this browser's sealed cookie, match `state`, be unexpired and unused, before the IdP is
 * asked anything; any answer at the callback, an error included, uses it up. The response
 * must then pass oauth4webapi's checks (RFC 9207 `iss` where the IdP advertises it).
 * Answers with the token as JSON and clears the cookie; a browser-session login instead
 * gets its session cookie and a redirect to the page it started from.
 */
export async function callback(ctx: AuthContext, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const clear = { "Set-Cookie": ctx.transactions.clearCookie(request) };
  const state = singleParam(query, "state", 4096);
  const idpError = singleParam(query, "error", 256);
  if (idpError !== undefined) {
    // An error (access_denied…) ends the login: its transaction cannot be completed later.
    const tx = state ? await ctx.transactions.fromCookie(request, state) : undefined;
    if (tx) ctx.transactions.consume(tx);
    const code = ERROR_CODE.test(idpError) ? idpError : "access_denied";
    throw new OIDCAuthError(400, code, "The identity provider did not complete the login.", clear);
  }
  const code = singleParam(query, "code", 2048);
  if (!code || !state) throw badRequest("invalid_request", "code and state are required.");
  const tx = await ctx.transactions.fromCookie(request, state);
  if (!tx?.verifier) {
    throw new OIDCAuthError(
      400,
      "invalid_request",
      "No login of this browser matches this state.",
      clear,
    );
  }
  if (!ctx.transactions.consume(tx)) {
    throw new OIDCAuthError(400, "invalid_request", "This login was already completed.", clear);
  }
  let authorizationResponse: URLSearchParams;
  try {
    authorizationResponse = await ctx.provider.validateCallback(query, tx.state);
  } catch (err) {
    if (err instanceof OIDCAuthError) {
      throw new OIDCAuthError(err.status, err.error, err.description, { ...err.headers, ...clear });
    }
    throw err;
  }
  const exchange = {
    code,
    authorizationResponse,
    redirectUri: tx.redirectUri,
    codeVerifier: tx.verifier,
    nonce: tx.nonce,
  };
  if (tx.returnTo === undefined) return exchangeCodeForToken(ctx, exchange, clear);
  // A browser-session login: the session cookie, and back to the page the login started from.
  const tokens = await exchangeCode(ctx, exchange);
  const headers = new Headers({
    Location: tx.returnTo,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
  });
  headers.append("Set-Cookie", clear["Set-Cookie"]);
  for (const cookie of await ctx.sessions.start(request, tokens))
    headers.append("Set-Cookie", cookie);
  return new Response(null, { status: 303, headers });
}
