import type { AuthContext } from "../context.js";
import { OIDCAuthError, storeUnavailable } from "../errors.js";
import { describeError } from "../log.js";

/** `GET .well-known/jwks.json` (broker mode): the public keys that verify broker tokens. */
export async function jwks(ctx: AuthContext, _request: Request): Promise<Response> {
  if (!ctx.broker) throw new OIDCAuthError(404, "not_found", "No such endpoint.");
  let set: Awaited<ReturnType<typeof ctx.broker.keys.jwks>>;
  try {
    set = await ctx.broker.keys.jwks();
  } catch (err) {
    if (err instanceof OIDCAuthError) throw err;
    ctx.config.logger.error("the broker's keys are unavailable", describeError(err));
    throw storeUnavailable();
  }
  return new Response(JSON.stringify(set), {
    headers: {
      "Content-Type": "application/jwk-set+json",
      // No longer than an instance may take to learn of a rotation elsewhere (keyReloadSec):
      // a cached copy never lacks a key that signs for longer than that.
      "Cache-Control": `public, max-age=${ctx.config.keyReloadSec}`,
      "X-Content-Type-Options": "nosniff",
    },
  });
}
