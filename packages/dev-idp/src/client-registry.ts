import type { Adapter, Provider } from "oidc-provider";
import {
  checkBackchannelLogoutUri,
  type DevClient,
  toClientMetadata,
  withBackchannelLogoutUri,
} from "./clients.js";

/** The reason oidc-provider gives for refusing client metadata (InvalidClientMetadata). */
function describeRefusal(error: unknown): string {
  const { error_description: description, message } = error as {
    error_description?: unknown;
    message?: unknown;
  };
  if (typeof description === "string" && description) return description;
  return typeof message === "string" ? message : String(error);
}

/**
 * The registered clients, kept where oidc-provider looks clients up: the adapter's "Client" model.
 * oidc-provider freezes statically configured `clients` for the provider's lifetime, but caches
 * clients found through the adapter by a hash of their metadata, so a changed registration (a new
 * back-channel logout URI) takes effect on the next request that looks the client up.
 */
export class ClientRegistry {
  readonly #metadata = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly adapter: Adapter,
    clients: DevClient[],
  ) {
    for (const client of clients) {
      if (this.#metadata.has(client.clientId)) {
        throw new Error(`dev-idp: duplicate client_id "${client.clientId}"`);
      }
      this.#metadata.set(client.clientId, toClientMetadata(client));
    }
  }

  /** Stores every client and has oidc-provider validate it, so a bad registration fails at start. */
  async register(provider: Provider): Promise<void> {
    for (const [clientId, metadata] of this.#metadata) {
      await this.#save(provider, clientId, metadata);
    }
  }

  /** Replaces (or with null removes) a client's back-channel logout URI. */
  async setBackchannelLogoutUri(
    provider: Provider,
    clientId: string,
    uri: string | null,
  ): Promise<void> {
    const current = this.#metadata.get(clientId);
    if (!current) {
      throw new Error(`dev-idp setBackchannelLogoutUri: unknown client "${clientId}"`);
    }
    const checked = uri === null ? null : checkBackchannelLogoutUri(clientId, uri);
    try {
      await this.#save(provider, clientId, withBackchannelLogoutUri(current, checked));
    } catch (error) {
      await this.adapter.upsert(clientId, structuredClone(current));
      throw error;
    }
  }

  /** True when href is the back-channel logout URI of a registered client. */
  isBackchannelLogoutUri(href: string): boolean {
    for (const metadata of this.#metadata.values()) {
      if (metadata.backchannel_logout_uri === href) return true;
    }
    return false;
  }

  async #save(provider: Provider, clientId: string, metadata: Record<string, unknown>) {
    await this.adapter.upsert(clientId, structuredClone(metadata));
    let found: unknown;
    try {
      found = await provider.Client.find(clientId);
    } catch (error) {
      throw new Error(`dev-idp: client "${clientId}" is invalid: ${describeRefusal(error)}`);
    }
    if (!found) throw new Error(`dev-idp: client "${clientId}" could not be registered`);
    this.#metadata.set(clientId, metadata);
  }
}
