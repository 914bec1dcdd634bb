import { CompactEncrypt, compactDecrypt, EncryptJWT, jwtDecrypt } from "jose";

const encoder = new TextEncoder();

async function deriveKey(secret: string, purpose: string): Promise<Uint8Array<ArrayBuffer>> {
  const material = await crypto.subtle.importKey("raw", encoder.encode(secret), "HKDF", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode("oidc-auth"),
      info: encoder.encode(purpose),
    },
    material,
    256,
  );
  return new Uint8Array(bits);
}

/**
 * Authenticated encryption of small records (jose JWE, `dir` + A256GCM) under keys derived
 * from the configured secrets. The first secret seals; every secret is tried when opening,
 * so secrets can be rotated. Each purpose gets its own key.
 */
export class Sealer {
  readonly #keys: Promise<Uint8Array[]>;

  constructor(secrets: readonly string[], purpose: string) {
    this.#keys = Promise.all(secrets.map((s) => deriveKey(s, purpose)));
  }

  /** Seals `payload`; the result expires after `ttlSec`. */
  async seal(payload: Record<string, unknown>, ttlSec: number): Promise<string> {
    const [key] = await this.#keys;
    if (!key) throw new Error("no sealing key");
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .setIssuedAt()
      .setExpirationTime(`${Math.floor(ttlSec)}s`)
      .encrypt(key);
  }

  /** Encrypts text with the first key (no expiry). */
  async encryptText(text: string): Promise<string> {
    const [key] = await this.#keys;
    if (!key) throw new Error("no sealing key");
    return new CompactEncrypt(encoder.encode(text))
      .setProtectedHeader({ alg: "dir", enc: "A256GCM" })
      .encrypt(key);
  }

  /** Decrypts what {@link encryptText} produced, with any configured key. */
  async decryptText(sealed: string): Promise<string | undefined> {
    if (sealed.split(".").length !== 5) return undefined;
    for (const key of await this.#keys) {
      try {
        const { plaintext } = await compactDecrypt(sealed, key, {
          keyManagementAlgorithms: ["dir"],
          contentEncryptionAlgorithms: ["A256GCM"],
        });
        return new TextDecoder().decode(plaintext);
      } catch {
        // next key
      }
    }
    return undefined;
  }

  /**
   * Opens a sealed value; undefined when it is forged, tampered with, foreign, expired or
   * longer than `maxLength` (checked before any decoding).
   */
  async open(sealed: string, maxLength = 4096): Promise<Record<string, unknown> | undefined> {
    if (sealed.length > maxLength || sealed.split(".").length !== 5) return undefined;
    for (const key of await this.#keys) {
      try {
        const { payload } = await jwtDecrypt(sealed, key, {
          keyManagementAlgorithms: ["dir"],
          contentEncryptionAlgorithms: ["A256GCM"],
          requiredClaims: ["exp"],
        });
        return payload as Record<string, unknown>;
      } catch {
        // next key; an expired or tampered value fails with every key
      }
    }
    return undefined;
  }
}

/**
 * An HMAC-SHA256 key derived from the first secret for one purpose (e.g. the CSRF tokens of
 * browser sessions): deterministic, so every instance with the same secret agrees.
 */
export async function macKey(secrets: readonly string[], purpose: string): Promise<CryptoKey> {
  const [secret] = secrets;
  if (!secret) throw new Error("no secret");
  return crypto.subtle.importKey(
    "raw",
    await deriveKey(secret, purpose),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** A random secret for a process that was given none (logins then do not survive a restart). */
export function ephemeralSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
