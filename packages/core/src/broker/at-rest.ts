import { Sealer } from "../seal.js";

const PLAIN = "plain:";

/**
 * Encryption at rest (AEAD, keys derived from the configured secrets, several accepted for
 * rotation). Without a secret values are stored as they are, marked `plain:`, and a
 * warning says so at startup.
 */
export class AtRest {
  readonly #sealer: Sealer | undefined;

  constructor(secrets: readonly string[] | undefined, purpose: string) {
    this.#sealer = secrets ? new Sealer(secrets, `at-rest:${purpose}`) : undefined;
  }

  get encrypts(): boolean {
    return this.#sealer !== undefined;
  }

  async encrypt(text: string): Promise<string> {
    return this.#sealer ? this.#sealer.encryptText(text) : `${PLAIN}${text}`;
  }

  /** The stored value's text; undefined when it cannot be opened with the configured secrets. */
  async decrypt(stored: string): Promise<string | undefined> {
    if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
    return this.#sealer?.decryptText(stored);
  }
}
