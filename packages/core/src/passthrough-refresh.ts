import type * as oauth from "oauth4webapi";
import type { TokenAnswer } from "./responses.js";
import { tokenAnswer } from "./responses.js";
import { Sealer } from "./seal.js";

/** Longest sealed refresh token opened (an IdP's JWT refresh token, sealed, fits easily). */
export const MAX_SEALED_REFRESH_TOKEN = 8192;

/**
 * Passthrough mode never hands out the IdP's refresh token as it is: the client gets it
 * sealed (jose JWE under a key derived from the instance `secret`, bound to this client
 * id, expiring with the refresh token) and only a sealed token is refreshed. An IdP
 * refresh token obtained elsewhere for the same client therefore cannot be refreshed
 * with this app's client secret: the token endpoint is no open confidential-client proxy.
 * py-oidc-auth-client treats the refresh token as opaque, so it notices nothing.
 */
export class SealedRefreshTokens {
  readonly #sealer: Sealer;
  readonly #clientId: string;

  constructor(secrets: readonly string[], clientId: string) {
    this.#sealer = new Sealer(secrets, "passthrough-refresh-token");
    this.#clientId = clientId;
  }

  /** The wire answer of an IdP token response, its refresh token sealed. */
  async answer(
    tokens: oauth.TokenEndpointResponse,
    now = Math.floor(Date.now() / 1000),
  ): Promise<TokenAnswer> {
    const answer = tokenAnswer(tokens, now);
    if (answer.refresh_token !== undefined) {
      const lifetime = Math.max(1, (answer.refresh_expires ?? now) - now);
      answer.refresh_token = await this.#sealer.seal(
        { rt: answer.refresh_token, c: this.#clientId },
        lifetime,
      );
    }
    return answer;
  }

  /** The IdP refresh token inside a sealed one; undefined for anything this app did not seal. */
  async open(sealed: string): Promise<string | undefined> {
    const payload = await this.#sealer.open(sealed, MAX_SEALED_REFRESH_TOKEN);
    if (!payload || payload.c !== this.#clientId || typeof payload.rt !== "string") {
      return undefined;
    }
    return payload.rt;
  }
}
