import type { AuthContext } from "../context.js";
import { OIDCAuthError } from "../errors.js";

/** `GET .well-known/jwks.json` (broker mode): the public keys that verify broker tokens. */
export async function jwks(ctx: AuthContext, _request: Request): Promise<Response> {
  if (!ctx.broker) throw new OIDCAuthError(404, "not_found", "No such endpoint.");
  const set = await ctx.broker.keys.jwks();
  return new Response(JSON.stringify(set), {
    headers: {
      "Content-Type": "application/jwk-set+json",
      // Short: rotation publishes the next key at once; peers refetch on an unknown kid.
      "Cache-Control": "public, max-age=300",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
