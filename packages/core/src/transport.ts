/**
 * Which URLs oidc-auth fetches keys and metadata from: https, or plain http only on a
 * loopback host (traffic that never leaves the machine) or with `allowInsecureRequests`.
 */

/** True for hosts whose traffic never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** Whether a URL may be fetched: https, or http on loopback or when insecure requests are allowed. */
export function isSecureEnough(url: URL, allowInsecureRequests: boolean): boolean {
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && (allowInsecureRequests || isLoopbackHost(url.hostname));
}

/**
 * Whether a `jwks_uri` the IdP's discovery document names may be trusted: on the issuer's
 * own origin, or on one of `trustedOrigins` (e.g. Google publishes its keys on
 * www.googleapis.com), and over a transport {@link isSecureEnough} allows. A discovery
 * document that sends the guard to another host's keys is refused, because whoever
 * controls those keys could sign tokens the guard accepts.
 */
export function isTrustedJwksUri(
  jwksUri: URL,
  issuer: string,
  trustedOrigins: ReadonlySet<string>,
  allowInsecureRequests: boolean,
): boolean {
  let issuerOrigin: string;
  try {
    issuerOrigin = new URL(issuer).origin;
  } catch {
    return false;
  }
  return (
    (jwksUri.origin === issuerOrigin || trustedOrigins.has(jwksUri.origin)) &&
    isSecureEnough(jwksUri, allowInsecureRequests)
  );
}
