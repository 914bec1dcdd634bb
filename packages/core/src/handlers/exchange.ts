import { jwtVerify } from "jose";
import type { AuthContext } from "../context.js";
import { badRequest, OIDCAuthError } from "../errors.js";
import { describeError } from "../log.js";
import { jsonResponse, tokenAnswer } from "../responses.js";

/**
 * Exchanges a code of a login this server started and answers with the token. The ID
 * token is validated in full: claims and nonce by oauth4webapi, signature here with the
 * IdP's keys.
 */
export async function exchangeCodeForToken(
  ctx: AuthContext,
  input: {
    code: string;
    iss?: string | undefined;
    redirectUri: string;
    codeVerifier: string;
    nonce: string;
  },
  headers: Record<string, string> = {},
): Promise<Response> {
  const tokens = await ctx.provider.exchangeCode(input);
  if (tokens.id_token) {
    const keys = await ctx.verifier.keySet();
    try {
      await jwtVerify(tokens.id_token, keys.resolveFromTokenEndpoint, {
        algorithms: ctx.config.algorithms,
        clockTolerance: ctx.config.clockToleranceSec,
      });
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      ctx.config.logger.warn("ID token signature rejected", describeError(err));
      throw badRequest("invalid_grant", "The identity provider's ID token is invalid.");
    }
  }
  const answer = ctx.broker ? await ctx.broker.login(tokens) : tokenAnswer(tokens);
  return jsonResponse(answer, 200, headers);
}
