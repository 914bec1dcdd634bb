import type { PeerJwksRecord, SigningKeyRecord } from "@oidc-auth/core";
import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * The broker store's tables on SQLite (a local file through libSQL, and Cloudflare D1): the
 * same tables and columns as the Postgres schema (../schema.ts). Times are unix seconds
 * (integers; the rate-limit times real). JSON values are text. The credential chain of a
 * session (`retired_hashes`, a JSON array) is also indexed row by row in
 * `oidc_auth_retired_hashes`, so that finding a session by a replaced credential is an index
 * look-up, not a scan (an attacker may send any number of unknown refresh tokens).
 * Migrations: `pnpm --filter @oidc-auth/drizzle generate` (drizzle.sqlite.config.ts).
 */

export const signingKeys = sqliteTable("oidc_auth_signing_keys", {
  kid: text("kid").primaryKey(),
  generation: integer("generation").notNull().unique(),
  alg: text("alg").notNull(),
  publicJwk: text("public_jwk", { mode: "json" }).$type<SigningKeyRecord["publicJwk"]>().notNull(),
  privateKey: text("private_key").notNull(),
  createdAt: integer("created_at").notNull(),
  retiredAt: integer("retired_at"),
});

export const sessions = sqliteTable(
  "oidc_auth_sessions",
  {
    id: text("id").primaryKey(),
    subject: text("subject").notNull(),
    refreshHash: text("refresh_hash").notNull().unique(),
    previousHash: text("previous_hash"),
    retiredHashes: text("retired_hashes", { mode: "json" }).$type<string[]>().notNull(),
    rotatedAt: integer("rotated_at"),
    rotationAnswer: text("rotation_answer"),
    rotationLease: text("rotation_lease"),
    rotationLeaseUntil: integer("rotation_lease_until"),
    idpRefreshToken: text("idp_refresh_token"),
    idpAccessToken: text("idp_access_token"),
    idpAccessExpiresAt: integer("idp_access_expires_at"),
    idpSessionId: text("idp_session_id"),
    claims: text("claims").notNull(),
    scope: text("scope").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [
    index("oidc_auth_sessions_subject_idx").on(t.subject),
    index("oidc_auth_sessions_idp_session_id_idx").on(t.idpSessionId),
    index("oidc_auth_sessions_expires_at_idx").on(t.expiresAt),
  ],
);

/** One row per credential a session replaced: `hash` → its session. Deleted with the session. */
export const retiredHashes = sqliteTable(
  "oidc_auth_retired_hashes",
  {
    hash: text("hash").notNull(),
    sessionId: text("session_id").notNull(),
  },
  (t) => [
    index("oidc_auth_retired_hashes_hash_idx").on(t.hash),
    index("oidc_auth_retired_hashes_session_idx").on(t.sessionId),
  ],
);

export const nativeLogins = sqliteTable(
  "oidc_auth_native_logins",
  {
    codeChallenge: text("code_challenge").primaryKey(),
    nonce: text("nonce").notNull(),
    redirectUri: text("redirect_uri").notNull(),
    client: text("client").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [
    index("oidc_auth_native_logins_client_idx").on(t.client, t.expiresAt),
    index("oidc_auth_native_logins_expires_at_idx").on(t.expiresAt),
  ],
);

/** Single-use ids (back-channel logout tokens' `jti`) until they expire. */
export const usedIds = sqliteTable(
  "oidc_auth_used_ids",
  {
    id: text("id").primaryKey(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("oidc_auth_used_ids_expires_at_idx").on(t.expiresAt)],
);

export const peerJwks = sqliteTable("oidc_auth_peer_jwks", {
  issuer: text("issuer").primaryKey(),
  jwks: text("jwks", { mode: "json" }).$type<PeerJwksRecord["jwks"]>().notNull(),
  fetchedAt: integer("fetched_at").notNull(),
});

export const rateLimits = sqliteTable(
  "oidc_auth_rate_limits",
  {
    key: text("key").primaryKey(),
    tokens: real("tokens").notNull(),
    updatedAt: real("updated_at").notNull(),
    fullAt: real("full_at").notNull(),
    allowed: integer("allowed", { mode: "boolean" }).notNull(),
  },
  (t) => [index("oidc_auth_rate_limits_full_at_idx").on(t.fullAt)],
);
