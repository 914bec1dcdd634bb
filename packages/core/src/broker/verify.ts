import {
  decodeJwt,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import type { IDToken } from "../claims.js";
import { toIDToken } from "../claims.js";
import type { ResolvedConfig } from "../config.js";
import { invalidToken, OIDCAuthError } from "../errors.js";
import { checkVerifiedJwt, precheckCompactJws } from "../jwt-checks.js";
import { describeError } from "../log.js";
import type { VerifiedToken } from "../token-cache.js";
import type { PeerKeys } from "./federation.js";
import type { SigningKeys } from "./keys.js";
import { applyPeerPolicy, normaliseType } from "./peer-policy.js";

const BROKER_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"];
/** The `typ` of every broker token (RFC 9068), with or without `application/`. */
const AT_JWT = /^(application\/)?at\+jwt$/i;

/**
 * Verifies broker tokens with no database or IdP call on the hot path: own tokens with
 * own keys (held in memory), trusted peers' tokens with that peer's keys only. A token of
 * any other issuer is refused before any network call.
 */
export class BrokerTokenVerifier {
  readonly #config: ResolvedConfig;
  readonly #issuer: string;
  readonly #keys: SigningKeys;
  readonly #peers: PeerKeys;
  readonly #rolePaths: string[];

  constructor(config: ResolvedConfig, issuer: string, keys: SigningKeys, peers: PeerKeys) {
    this.#config = config;
    this.#rolePaths = config.roleClaims.map((p) => p.replaceAll("{clientId}", config.clientId));
    this.#issuer = issuer;
    this.#keys = keys;
    this.#peers = peers;
  }

  async verify(token: string): Promise<IDToken> {
    return (await this.verifyWithKid(token)).token;
  }

  /** {@link verify}, answering also the `kid` of the key that verified the token. */
  async verifyWithKid(token: string): Promise<VerifiedToken> {
    precheckCompactJws(token, this.#config.maxTokenBytes);
    // Issuer and type first: they choose the keys, and a token of another kind is refused
    // without touching the store or a peer.
    let iss: unknown;
    let typ: unknown;
    try {
      iss = decodeJwt(token).iss;
      typ = decodeProtectedHeader(token).typ;
    } catch {
      throw invalidToken();
    }
    if (typeof iss !== "string" || typeof typ !== "string") throw invalidToken();
    // Own tokens are at+jwt; a peer's, what its policy accepts (py-oidc-auth: JWT).
    const peer = iss === this.#issuer ? undefined : this.#config.peerPolicies.get(iss);
    if (peer ? !peer.tokenTypes.has(normaliseType(typ)) : !AT_JWT.test(typ)) {
      throw invalidToken();
    }
    let resolve: JWTVerifyGetKey;
    if (iss === this.#issuer) {
      resolve = this.#keys.resolve as JWTVerifyGetKey;
    } else if (peer && this.#peers.trusts(iss)) {
      resolve = (await this.#peers.keySet(iss)).resolve;
    } else {
      throw invalidToken();
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(token, resolve, {
        algorithms: BROKER_ALGORITHMS,
        issuer: iss,
        audience: this.#config.brokerAudience,
        clockTolerance: this.#config.clockToleranceSec,
        requiredClaims: ["exp", "iat", "iss", "sub", "jti"],
      });
      checkVerifiedJwt(protectedHeader, payload, this.#config.clockToleranceSec);
      // A peer's token: null claims dropped, and only what the peer may assert here.
      const claims = peer ? applyPeerPolicy(payload, peer, this.#rolePaths) : payload;
      return { token: toIDToken(claims, ["roles"]), kid: protectedHeader.kid };
    } catch (err) {
      if (err instanceof OIDCAuthError) throw err;
      if (!(err instanceof joseErrors.JOSEError)) {
        this.#config.logger.warn(
          "unexpected broker token verification failure",
          describeError(err),
        );
      }
      throw invalidToken();
    }
  }
}
