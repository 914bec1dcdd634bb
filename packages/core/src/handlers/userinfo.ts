import { readBearerToken } from "../bearer.js";
import type { AuthContext } from "../context.js";
import { jsonResponse } from "../responses.js";

/** The user fields py-oidc-auth's userinfo answers with. */
export interface UserInfoAnswer {
  username: string;
  first_name: string;
  last_name: string;
  pw_name: string;
  email: string;
}

function text(...values: unknown[]): string {
  for (const v of values) if (typeof v === "string" && v) return v;
  return "";
}

/**
 * `GET userinfo`: bearer-protected. Answers from the verified token's claims; in passthrough
 * mode asks the IdP's userinfo endpoint only for fields the token lacks; in broker mode
 * answers from the session and the token, without calling the IdP.
 */
export async function userinfo(ctx: AuthContext, request: Request): Promise<Response> {
  const token = await ctx.requireToken(request);
  let claims: Record<string, unknown> = token;
  if (ctx.broker) {
    claims = await ctx.broker.sessionClaims(token);
  } else if (!token.given_name || !token.family_name || !token.email) {
    const raw = readBearerToken(request) as string; // requireToken verified it
    const fromIdp = await ctx.provider.userinfo(raw);
    if (fromIdp && fromIdp.sub === token.sub) claims = { ...fromIdp, ...token };
  }
  const username = text(claims.preferred_username, claims.sub);
  const answer: UserInfoAnswer = {
    username,
    first_name: text(claims.given_name),
    last_name: text(claims.family_name),
    pw_name: username,
    email: text(claims.email),
  };
  return jsonResponse(answer);
}
