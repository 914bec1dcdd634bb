import type { PeerJwksRecord, SigningKeyRecord } from "@oidc-auth/core";
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
} from "drizzle-orm/pg-core";

/**
 * The tables of the broker store (one schema for PGlite and Postgres). Times are unix
 * seconds (bigint, read as numbers). Opaque values (sealed keys and tokens, hashes, JSON
 * claims) are text the store never interprets. Migrations are generated from this file by
 * drizzle-kit (`pnpm --filter @oidc-auth/drizzle generate`) into ../migrations.
 */

/** The broker's signing keys; `generation` is unique: N instances starting together agree on one key. */
export const signingKeys = pgTable("oidc_auth_signing_keys", {
  kid: text("kid").primaryKey(),
  generation: integer("generation").notNull().unique(),
  alg: text("alg").notNull(),
  publicJwk: jsonb("public_jwk").$type<SigningKeyRecord["publicJwk"]>().notNull(),
  privateKey: text("private_key").notNull(),
  createdAt: bigint("created_at", { mode: "number" }).notNull(),
  retiredAt: bigint("retired_at", { mode: "number" }),
});

/** Broker sessions: the IdP session kept server-side and the hash of the current refresh credential. */
export const sessions = pgTable(
  "oidc_auth_sessions",
  {
    id: text("id").primaryKey(),
    subject: text("subject").notNull(),
    refreshHash: text("refresh_hash").notNull().unique(),
    previousHash: text("previous_hash"),
    /** Every credential hash the session replaced: reuse of any of them revokes it. */
    retiredHashes: text("retired_hashes").array().notNull().default(sql`'{}'::text[]`),
    rotatedAt: bigint("rotated_at", { mode: "number" }),
    rotationAnswer: text("rotation_answer"),
    rotationLease: text("rotation_lease"),
    rotationLeaseUntil: bigint("rotation_lease_until", { mode: "number" }),
    idpRefreshToken: text("idp_refresh_token"),
    idpAccessToken: text("idp_access_token"),
    idpAccessExpiresAt: bigint("idp_access_expires_at", { mode: "number" }),
    /** The IdP's login session (`sid`): a back-channel logout names it. */
    idpSessionId: text("idp_session_id"),
    claims: text("claims").notNull(),
    scope: text("scope").notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
  },
  (t) => [
    index("oidc_auth_sessions_retired_hashes_idx").using("gin", t.retiredHashes),
    index("oidc_auth_sessions_subject_idx").on(t.subject),
    index("oidc_auth_sessions_idp_session_id_idx").on(t.idpSessionId),
    index("oidc_auth_sessions_expires_at_idx").on(t.expiresAt),
  ],
);

/**
 * Native logins (clients that keep their own PKCE verifier) until their code exchange, so
 * that the exchange may reach any instance. `client` is whom the per-client bound counts.
 */
export const nativeLogins = pgTable(
  "oidc_auth_native_logins",
  {
    codeChallenge: text("code_challenge").primaryKey(),
    nonce: text("nonce").notNull(),
    redirectUri: text("redirect_uri").notNull(),
    client: text("client").notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
  },
  (t) => [
    index("oidc_auth_native_logins_client_idx").on(t.client, t.expiresAt),
    index("oidc_auth_native_logins_expires_at_idx").on(t.expiresAt),
  ],
);

/**
 * Single-use ids (the `jti` of back-channel logout tokens) until they expire: a replayed
 * logout token finds its id here. A row with `expires_at <= now` counts as absent and is purged.
 */
export const usedIds = pgTable(
  "oidc_auth_used_ids",
  {
    id: text("id").primaryKey(),
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
  },
  (t) => [index("oidc_auth_used_ids_expires_at_idx").on(t.expiresAt)],
);

/** The JWKS of trusted peers as last fetched, so a cold instance verifies while a peer is down. */
export const peerJwks = pgTable("oidc_auth_peer_jwks", {
  issuer: text("issuer").primaryKey(),
  jwks: jsonb("jwks").$type<PeerJwksRecord["jwks"]>().notNull(),
  fetchedAt: bigint("fetched_at", { mode: "number" }).notNull(),
});

/**
 * Rate-limit token buckets shared by the instances on this database. Times are unix seconds
 * with fractions (double precision). `allowed` is the outcome of the last take, written by
 * the same statement that takes, so that one statement both decides and answers. A row
 * whose `full_at` has passed is no different from a missing one and is purged.
 */
export const rateLimits = pgTable(
  "oidc_auth_rate_limits",
  {
    key: text("key").primaryKey(),
    tokens: doublePrecision("tokens").notNull(),
    updatedAt: doublePrecision("updated_at").notNull(),
    fullAt: doublePrecision("full_at").notNull(),
    allowed: boolean("allowed").notNull(),
  },
  (t) => [index("oidc_auth_rate_limits_full_at_idx").on(t.fullAt)],
);
