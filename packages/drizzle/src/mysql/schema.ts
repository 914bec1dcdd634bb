import type { PeerJwksRecord, SigningKeyRecord } from "@oidc-auth/core";
import {
  bigint,
  boolean,
  customType,
  double,
  index,
  int,
  mysqlTable,
} from "drizzle-orm/mysql-core";

/**
 * The broker store's tables on MySQL / MariaDB: the same tables and columns as the Postgres
 * schema (../schema.ts). Every text column compares byte for byte (utf8mb4_bin): the server's
 * default collations ignore case, and two refresh hashes, code challenges or session ids that
 * differ only in case must never match. Keys and looked-up columns are VARCHAR (an index
 * needs a bounded length); the rest TEXT / MEDIUMTEXT. Ids that arrive from outside (an IdP's
 * session ids, logout tokens' jti) are VARBINARY, see `exactKey`. `retired_hashes` (a JSON
 * array) is also indexed row by row in `oidc_auth_retired_hashes`. Migrations:
 * `pnpm --filter @oidc-auth/drizzle generate` (drizzle.mysql.config.ts).
 */

/** VARCHAR(length) compared byte for byte. */
const key = (name: string, length: number) =>
  customType<{ data: string; driverData: string }>({
    dataType: () => `varchar(${length}) character set utf8mb4 collate utf8mb4_bin`,
  })(name);

const utf8 = new TextDecoder();

/**
 * Text of up to `bytes` UTF-8 bytes kept as VARBINARY, read back as text: compared byte for
 * byte, trailing spaces included (utf8mb4_bin pads them away: `'a' = 'a '` holds there).
 */
const exactKey = (name: string, bytes: number) =>
  customType<{ data: string; driverData: string | Uint8Array }>({
    dataType: () => `varbinary(${bytes})`,
    fromDriver: (value) => (typeof value === "string" ? value : utf8.decode(value)),
  })(name);

/** Text of any size (up to 16 MB), compared byte for byte. */
const longText = (name: string) =>
  customType<{ data: string; driverData: string }>({
    dataType: () => "mediumtext character set utf8mb4 collate utf8mb4_bin",
  })(name);

/** A JSON value kept as text (MariaDB's JSON type is text anyway; this reads the same on both). */
const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => "mediumtext character set utf8mb4 collate utf8mb4_bin",
    toDriver: (value) => JSON.stringify(value),
    fromDriver: (value) => JSON.parse(value) as T,
  })(name);

const seconds = (name: string) => bigint(name, { mode: "number" });

export const signingKeys = mysqlTable("oidc_auth_signing_keys", {
  kid: key("kid", 255).primaryKey(),
  generation: int("generation").notNull().unique(),
  alg: key("alg", 32).notNull(),
  publicJwk: jsonText<SigningKeyRecord["publicJwk"]>("public_jwk").notNull(),
  privateKey: longText("private_key").notNull(),
  createdAt: seconds("created_at").notNull(),
  retiredAt: seconds("retired_at"),
});

export const sessions = mysqlTable(
  "oidc_auth_sessions",
  {
    id: key("id", 255).primaryKey(),
    subject: key("subject", 512).notNull(),
    refreshHash: key("refresh_hash", 255).notNull().unique(),
    previousHash: key("previous_hash", 255),
    retiredHashes: jsonText<string[]>("retired_hashes").notNull(),
    rotatedAt: seconds("rotated_at"),
    rotationAnswer: longText("rotation_answer"),
    rotationLease: key("rotation_lease", 255),
    rotationLeaseUntil: seconds("rotation_lease_until"),
    idpRefreshToken: longText("idp_refresh_token"),
    idpAccessToken: longText("idp_access_token"),
    idpAccessExpiresAt: seconds("idp_access_expires_at"),
    /** At most 255 characters (the core keeps no longer `sid`): 1020 bytes hold any of them. */
    idpSessionId: exactKey("idp_session_id", 1020),
    claims: longText("claims").notNull(),
    scope: longText("scope").notNull(),
    createdAt: seconds("created_at").notNull(),
    expiresAt: seconds("expires_at").notNull(),
  },
  (t) => [
    index("oidc_auth_sessions_subject_idx").on(t.subject),
    index("oidc_auth_sessions_idp_session_id_idx").on(t.idpSessionId),
    index("oidc_auth_sessions_expires_at_idx").on(t.expiresAt),
  ],
);

export const retiredHashes = mysqlTable(
  "oidc_auth_retired_hashes",
  {
    hash: key("hash", 255).notNull(),
    sessionId: key("session_id", 255).notNull(),
  },
  (t) => [
    index("oidc_auth_retired_hashes_hash_idx").on(t.hash),
    index("oidc_auth_retired_hashes_session_idx").on(t.sessionId),
  ],
);

export const nativeLogins = mysqlTable(
  "oidc_auth_native_logins",
  {
    codeChallenge: key("code_challenge", 255).primaryKey(),
    nonce: longText("nonce").notNull(),
    redirectUri: longText("redirect_uri").notNull(),
    client: key("client", 255).notNull(),
    expiresAt: seconds("expires_at").notNull(),
  },
  (t) => [
    index("oidc_auth_native_logins_client_idx").on(t.client, t.expiresAt),
    index("oidc_auth_native_logins_expires_at_idx").on(t.expiresAt),
  ],
);

/** Single-use ids (back-channel logout tokens' `jti`, at most 255 characters) until they expire. */
export const usedIds = mysqlTable(
  "oidc_auth_used_ids",
  {
    id: exactKey("id", 1020).primaryKey(),
    expiresAt: seconds("expires_at").notNull(),
  },
  (t) => [index("oidc_auth_used_ids_expires_at_idx").on(t.expiresAt)],
);

export const peerJwks = mysqlTable("oidc_auth_peer_jwks", {
  issuer: key("issuer", 700).primaryKey(),
  jwks: jsonText<PeerJwksRecord["jwks"]>("jwks").notNull(),
  fetchedAt: seconds("fetched_at").notNull(),
});

export const rateLimits = mysqlTable(
  "oidc_auth_rate_limits",
  {
    key: key("key", 700).primaryKey(),
    tokens: double("tokens").notNull(),
    updatedAt: double("updated_at").notNull(),
    fullAt: double("full_at").notNull(),
    allowed: boolean("allowed").notNull(),
  },
  (t) => [index("oidc_auth_rate_limits_full_at_idx").on(t.fullAt)],
);
