/**
 * Issue 12, items 7 and 8: federation with the real py-oidc-auth as a trusted peer, and
 * per-peer policy. The stand-in below mints exactly as py-oidc-auth does (PyJWT, RS256):
 * header `{"alg":"RS256","kid":<16 hex of SHA-256 of the SPKI DER>,"typ":"JWT"}`, claims
 * `sub` (the username), `preferred_username`, `email` (null for users without one),
 * `roles`, `jti`, `iss`, `aud`, `iat`, `exp`, and publishes its JWKS at
 * `<prefix>/auth/v2/.well-known/jwks.json`. Its refresh token is the same kind of JWT.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { startDevIdp } from "@oidc-auth/dev-idp";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Stack } from "./support.js";
import { getWithToken, startStack } from "./support.js";

const AUDIENCE = "shared-api";

/** A py-oidc-auth broker as its peers see it: a JWKS, and tokens minted like PyJWT mints them. */
interface PyOidcAuthStandIn {
  /** Its `iss`: its public URL with the prefix it is mounted under (`…/api`). */
  issuer: string;
  mint(claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

async function startPyOidcAuthStandIn(): Promise<PyOidcAuthStandIn> {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  // py-oidc-auth's kid: the first 16 hex digits of the SHA-256 of the public key's SPKI DER.
  const pem = await exportSPKI(publicKey);
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  const kid = Array.from(digest, (b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, 16);
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const server: Server = createServer((request, response) => {
    if (request.url === "/api/auth/v2/.well-known/jwks.json") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  return {
    issuer,
    async mint(claims) {
      const iat = Math.floor(Date.now() / 1000);
      return new SignJWT({
        iss: issuer,
        aud: AUDIENCE,
        iat,
        exp: iat + 300,
        jti: crypto.randomUUID(),
        ...claims,
      })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .sign(privateKey);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What py-oidc-auth puts in a token for a user without an email. */
const carol = { sub: "carol", preferred_username: "carol", email: null, roles: ["user"] };

let idp: DevIdp;
let py: PyOidcAuthStandIn;
let pyWithRoles: PyOidcAuthStandIn;
let pyByUrlOnly: PyOidcAuthStandIn;
let app: Stack;
beforeAll(async () => {
  idp = await startDevIdp();
  [py, pyWithRoles, pyByUrlOnly] = await Promise.all([
    startPyOidcAuthStandIn(),
    startPyOidcAuthStandIn(),
    startPyOidcAuthStandIn(),
  ]);
  app = await startStack({
    idp,
    env: {
      OIDC_BROKER_MODE: "true",
      OIDC_BROKER_STORE_URL: "memory://",
      OIDC_BROKER_AUDIENCE: AUDIENCE,
      OIDC_TRUSTED_ISSUERS: JSON.stringify([
        { issuer: py.issuer, tokenTypes: ["JWT"] },
        { issuer: pyWithRoles.issuer, tokenTypes: ["JWT"], mayAssert: ["roles"] },
        pyByUrlOnly.issuer,
      ]),
    },
  });
});
afterAll(async () => {
  await app?.close();
  await Promise.all([py, pyWithRoles, pyByUrlOnly].map((p) => p?.close()));
  await idp?.stop();
});

interface Me {
  sub: string;
  email?: string;
  roles: string[];
  claims: Record<string, unknown>;
}

describe("federation with py-oidc-auth", () => {
  it("accepts a py-oidc-auth token as it is minted: typ JWT, email null", async () => {
    const token = await py.mint(carol);
    const response = await getWithToken(`${app.url}/api/me`, token);
    expect(response.status).toBe(200);
    const me = (await response.json()) as Me;
    expect(me.sub).toBe("carol");
    expect(me.claims.preferred_username).toBe("carol");
    expect(me.claims).not.toHaveProperty("email");
    // token.iss tells the app which peer vouched for carol
    expect(me.claims.iss).toBe(py.issuer);
  });

  it("refuses typ JWT from a peer configured by URL alone (at+jwt by default)", async () => {
    const token = await pyByUrlOnly.mint(carol);
    expect((await getWithToken(`${app.url}/api/me`, token)).status).toBe(401);
  });

  it("still refuses a token of an issuer it does not trust, and a forged one", async () => {
    const stranger = await startPyOidcAuthStandIn();
    try {
      expect((await getWithToken(`${app.url}/api/me`, await stranger.mint(carol))).status).toBe(
        401,
      );
      // signed by the stranger's key but claiming to come from a trusted peer
      const forged = await stranger.mint({ ...carol, iss: py.issuer });
      expect((await getWithToken(`${app.url}/api/me`, forged)).status).toBe(401);
    } finally {
      await stranger.close();
    }
  });
});

describe("per-peer policy", () => {
  it("does not let a peer make anyone an admin here by default", async () => {
    const token = await py.mint({ sub: "alice", preferred_username: "alice", roles: ["admin"] });
    const me = (await (await getWithToken(`${app.url}/api/me`, token)).json()) as Me;
    expect(me.roles).toEqual([]);
    expect(me.claims).not.toHaveProperty("roles", ["admin"]);
    expect((await getWithToken(`${app.url}/api/admin`, token)).status).toBe(403);
  });

  it("drops a peer's scopes and other claims unless its policy lets it assert them", async () => {
    const token = await py.mint({
      ...carol,
      scope: "openid email",
      realm_access: { roles: ["admin"] },
      groups: ["admin"],
      is_superuser: true,
    });
    const me = (await (await getWithToken(`${app.url}/api/me`, token)).json()) as Me;
    for (const claim of ["scope", "realm_access", "groups", "is_superuser"]) {
      expect(me.claims).not.toHaveProperty(claim);
    }
    expect((await getWithToken(`${app.url}/api/email-scope`, token)).status).toBe(403);
  });

  it("takes roles from a peer whose policy says mayAssert roles", async () => {
    const token = await pyWithRoles.mint({
      sub: "alice",
      preferred_username: "alice",
      email: null,
      roles: ["admin"],
      scope: "openid email",
    });
    const response = await getWithToken(`${app.url}/api/admin`, token);
    expect(response.status).toBe(200);
    const me = (await (await getWithToken(`${app.url}/api/me`, token)).json()) as Me;
    expect(me.roles).toEqual(["admin"]);
    expect(me.claims.iss).toBe(pyWithRoles.issuer);
    expect(me.claims).not.toHaveProperty("scope");
  });
});
