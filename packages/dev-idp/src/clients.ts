/** A relying party registered at the dev IdP. */
export interface DevClient {
  clientId: string;
  /** Present for confidential clients; absent for public clients (token_endpoint_auth_method "none"). */
  clientSecret?: string;
  /** Display name shown on the login page. */
  clientName?: string;
  /**
   * Defaults to "client_secret_basic" when clientSecret is set, "none" otherwise.
   * oidc-provider allows one method per client.
   */
  tokenEndpointAuthMethod?: "client_secret_basic" | "client_secret_post" | "none";
  /**
   * Accept any http://127.0.0.1:<port>/<path> and http://localhost:<port>/<path> (any port, any path)
   * as redirect_uri and post_logout_redirect_uri. Default true.
   */
  allowAnyLoopbackRedirect?: boolean;
  /** Additional exactly-matched redirect URIs. */
  redirectUris?: string[];
  /** Additional exactly-matched post-logout redirect URIs. */
  postLogoutRedirectUris?: string[];
  /** Default: authorization_code, refresh_token and the device_code grant. */
  grantTypes?: string[];
  /**
   * OpenID Connect Back-Channel Logout 1.0: where the IdP POSTs a `logout_token` when the user's
   * session at the IdP ends (registered with `backchannel_logout_session_required: true`, so the
   * token carries `sid`). Any absolute http(s) URI without a fragment, loopback included
   * (`http://127.0.0.1:<port>/…`). Change it on a running IdP with `DevIdp.setBackchannelLogoutUri`.
   */
  backchannelLogoutUri?: string;
}

export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

const DEFAULT_GRANTS = ["authorization_code", "refresh_token", DEVICE_CODE_GRANT];

export const DEMO_CLIENTS: DevClient[] = [
  {
    clientId: "oidc-auth-demo",
    clientSecret: "oidc-auth-demo-secret",
    clientName: "oidc-auth demo (confidential)",
    tokenEndpointAuthMethod: "client_secret_basic",
    allowAnyLoopbackRedirect: true,
    grantTypes: [...DEFAULT_GRANTS],
  },
  {
    clientId: "oidc-auth-public",
    clientName: "oidc-auth demo (public)",
    tokenEndpointAuthMethod: "none",
    allowAnyLoopbackRedirect: true,
    grantTypes: [...DEFAULT_GRANTS],
  },
];

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** True for http URIs on a loopback host (any port, any path) without a fragment. */
export function isLoopbackHttpUri(value: string): boolean {
  if (typeof value !== "string" || value.includes("#")) return false;
  const url = URL.parse(value);
  if (!url) return false;
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname) && !url.username;
}

/**
 * Checks a back-channel logout URI (an absolute http(s) URI without a fragment, as Back-Channel
 * Logout 1.0 §2.2 asks) and returns it normalised; throws a TypeError naming the client otherwise.
 */
export function checkBackchannelLogoutUri(clientId: string, value: unknown): string {
  const url = typeof value === "string" ? URL.parse(value) : null;
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new TypeError(
      `dev-idp: the back-channel logout URI of client "${clientId}" must be an absolute http(s) URI`,
    );
  }
  if ((value as string).includes("#")) {
    throw new TypeError(
      `dev-idp: the back-channel logout URI of client "${clientId}" must not contain a fragment`,
    );
  }
  if (url.username || url.password) {
    throw new TypeError(
      `dev-idp: the back-channel logout URI of client "${clientId}" must not contain credentials`,
    );
  }
  return url.href;
}

/** oidc-provider client metadata for a DevClient. */
export function toClientMetadata(client: DevClient): Record<string, unknown> {
  const method =
    client.tokenEndpointAuthMethod ?? (client.clientSecret ? "client_secret_basic" : "none");
  if (method !== "none" && !client.clientSecret) {
    throw new Error(`dev-idp: client "${client.clientId}" uses ${method} but has no clientSecret`);
  }
  const loopback = client.allowAnyLoopbackRedirect ?? true;
  // Placeholders: oidc-provider wants at least one registered redirect URI; with loopback mode on,
  // any loopback URI is accepted by the patched check anyway (see provider.ts).
  const redirectUris = [
    ...(client.redirectUris ?? []),
    ...(loopback ? ["http://127.0.0.1/callback", "http://localhost/callback"] : []),
  ];
  const postLogoutRedirectUris = [
    ...(client.postLogoutRedirectUris ?? []),
    ...(loopback ? ["http://127.0.0.1/", "http://localhost/"] : []),
  ];
  const grantTypes = client.grantTypes ?? [...DEFAULT_GRANTS];
  const metadata: Record<string, unknown> = {
    client_id: client.clientId,
    client_name: client.clientName ?? client.clientId,
    application_type: "web",
    token_endpoint_auth_method: method,
    grant_types: grantTypes,
    response_types: grantTypes.includes("authorization_code") ? ["code"] : [],
    redirect_uris: [...new Set(redirectUris)],
    post_logout_redirect_uris: [...new Set(postLogoutRedirectUris)],
  };
  if (method !== "none") metadata.client_secret = client.clientSecret;
  if (client.backchannelLogoutUri !== undefined) {
    return withBackchannelLogoutUri(
      metadata,
      checkBackchannelLogoutUri(client.clientId, client.backchannelLogoutUri),
    );
  }
  return metadata;
}

/**
 * A copy of client metadata with its back-channel logout URI replaced (null: removed). The logout
 * token always carries `sid`, so RPs can end exactly the sessions of the IdP session that ended.
 */
export function withBackchannelLogoutUri(
  metadata: Record<string, unknown>,
  uri: string | null,
): Record<string, unknown> {
  const {
    backchannel_logout_uri: _uri,
    backchannel_logout_session_required: _required,
    ...rest
  } = metadata;
  if (uri === null) return rest;
  return { ...rest, backchannel_logout_uri: uri, backchannel_logout_session_required: true };
}
