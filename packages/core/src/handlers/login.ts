import { calculatePKCECodeChallenge } from "oauth4webapi";
import type { AuthContext } from "../context.js";
import { badRequest } from "../errors.js";
import { checkRedirectUri, checkReturnTo } from "../redirect-uris.js";
import { singleParam } from "../request-body.js";
import { clientOf } from "../request-client.js";
import { redirectResponse } from "../responses.js";
import { appOrigin } from "../session-cookie.js";

const PROMPTS = new Set(["none", "login", "consent", "select_account"]);
const CODE_CHALLENGE = /^[A-Za-z0-9\-._~]{43,128}$/;
const CALLER_STATE = /^[\x21-\x7e]{1,512}$/;

/** The scopes of a login: configured ones, narrowed by the caller, never widened. */
export function loginScopes(
  ctx: AuthContext,
  requested: string | undefined,
  offline: boolean,
): string {
  const configured = ctx.config.scopes;
  let scopes = configured;
  if (requested) {
    const asked = requested.split(" ").filter(Boolean);
    for (const scope of asked) {
      if (!configured.includes(scope) && scope !== "openid" && scope !== "offline_access") {
        throw badRequest("invalid_scope", "A requested scope is not allowed.");
      }
    }
    scopes = ["openid", ...asked.filter((s) => s !== "openid" && s !== "offline_access")];
  }
  const unique = [...new Set(scopes)];
  if (offline) unique.push("offline_access");
  return unique.join(" ");
}

function parseBoolean(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === "true") return true;
  if (value === "false") return false;
  throw badRequest("invalid_request", "offline_access must be true or false.");
}

/**
 * `GET login`: redirects to the IdP with PKCE S256, `state` and `nonce`. Browser logins get
 * a sealed transaction cookie; a native client may send its own `code_challenge` (and
 * `state`) and keep its verifier for the token endpoint.
 */
export async function login(ctx: AuthContext, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams;
  const requestedRedirect = singleParam(query, "redirect_uri", 2048);
  // No redirect_uri at all (not even an empty one): a browser-session login.
  const returnTo =
    !query.has("redirect_uri") && ctx.config.browserSessions
      ? checkReturnTo(ctx.config, request, singleParam(query, "return_to", 2048))
      : undefined;
  const redirectUri =
    returnTo === undefined
      ? checkRedirectUri(ctx.config, requestedRedirect)
      : sessionCallbackUrl(ctx, request);
  const prompt = singleParam(query, "prompt", 32);
  if (prompt !== undefined && !PROMPTS.has(prompt)) {
    throw badRequest("invalid_request", "prompt must be none, login, consent or select_account.");
  }
  const offline = parseBoolean(singleParam(query, "offline_access", 8), ctx.config.offlineAccess);
  const scope = loginScopes(ctx, singleParam(query, "scope", 1024), offline);
  const codeChallenge = singleParam(query, "code_challenge", 256);
  const method = singleParam(query, "code_challenge_method", 16);
  if (codeChallenge !== undefined) {
    if (!CODE_CHALLENGE.test(codeChallenge))
      throw badRequest("invalid_request", "code_challenge is malformed.");
    if (method !== "S256")
      throw badRequest("invalid_request", "code_challenge_method must be S256.");
  } else if (method !== undefined) {
    throw badRequest("invalid_request", "code_challenge_method without code_challenge.");
  }
  if (returnTo !== undefined && codeChallenge !== undefined) {
    throw badRequest("invalid_request", "A native client's login needs its redirect_uri.");
  }

  const tx = await ctx.transactions.create(redirectUri, codeChallenge === undefined, returnTo);
  const params: Record<string, string> = { redirect_uri: redirectUri, scope, nonce: tx.nonce };
  if (prompt) params.prompt = prompt;
  if (codeChallenge !== undefined) {
    const callerState = singleParam(query, "state", 512);
    if (callerState !== undefined) {
      if (!CALLER_STATE.test(callerState))
        throw badRequest("invalid_request", "state is malformed.");
      tx.state = callerState;
    }
    await ctx.transactions.rememberNative(codeChallenge, tx, clientOf(request));
    params.code_challenge = codeChallenge;
  } else {
    params.code_challenge = await calculatePKCECodeChallenge(tx.verifier as string);
  }
  params.state = tx.state;
  const location = await ctx.provider.authorizationUrl(params);
  const headers: Record<string, string> = {};
  if (codeChallenge === undefined) headers["Set-Cookie"] = await ctx.transactions.cookie(tx);
  return redirectResponse(location, headers);
}

/**
 * The callback URL of a browser-session login: this app's origin (`proxy`'s when set) and
 * the path the login was served at, with the login route replaced by the callback route,
 * so it works under any mount prefix. The IdP must know it as a redirect URI.
 */
function sessionCallbackUrl(ctx: AuthContext, request: Request): string {
  const { login: loginRoute, callback } = ctx.config.routes;
  if (!callback || !loginRoute) {
    throw badRequest("invalid_request", "Browser logins need the callback route.");
  }
  const { pathname } = new URL(request.url);
  let prefix = pathname.endsWith(loginRoute) ? pathname.slice(0, -loginRoute.length) : "";
  if (ctx.config.proxy) {
    const base = new URL(ctx.config.proxy).pathname.replace(/\/+$/, "");
    if (base && !prefix.startsWith(`${base}/`) && prefix !== base) prefix = `${base}${prefix}`;
  }
  return `${appOrigin(ctx.config, request)}${prefix}${callback}`;
}
