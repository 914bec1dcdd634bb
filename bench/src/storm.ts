import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { BrokerStore, SigningKeyRecord } from "@oidc-auth/core";
import { MemoryBrokerStore, OIDCAuth, silentLogger } from "@oidc-auth/core";
import { HonoOIDCAuth } from "@oidc-auth/hono";
import { Hono } from "hono";
import type { CryptoKey, JWK } from "jose";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { BENCH_SECRET, bearerRequest } from "./fixtures.js";
import { check, section, table } from "./report.js";

const STORM = 1000;
const COOLDOWN_SEC = 2;

/** An issuer of our own whose JWKS (on 127.0.0.1) counts its fetches. */
async function startIssuer() {
  const keys = new Map<string, { privateKey: CryptoKey; jwk: JWK }>();
  const published = new Set<string>();
  let fetches = 0;
  const server = createServer((_req, res) => {
    fetches++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [...published].map((kid) => keys.get(kid)?.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    get fetches() {
      return fetches;
    },
    async addKey(kid: string, publish: boolean) {
      const { privateKey, publicKey } = await generateKeyPair("ES256");
      keys.set(kid, { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256" } });
      if (publish) published.add(kid);
    },
    publish(kid: string) {
      published.add(kid);
    },
    sign(kid: string, n: number): Promise<string> {
      const key = keys.get(kid);
      if (!key) throw new Error(`no key ${kid}`);
      const t = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: `u-${n}`, iat: t, exp: t + 600, jti: `${kid}-${n}` })
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid })
        .setIssuer(issuer)
        .sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `STORM` requests at once, each with its own token; answers the status counts. */
async function storm(url: string, tokens: string[]): Promise<string> {
  const statuses = await Promise.all(
    tokens.map(async (token) => {
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      return response.status;
    }),
  );
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n}× ${status}`).join(", ");
}

/** The broker's store, counting how often the signing keys are (re)loaded. */
class CountingStore extends MemoryBrokerStore {
  loads = 0;
  override async listSigningKeys(): Promise<SigningKeyRecord[]> {
    this.loads++;
    return super.listSigningKeys();
  }
}

/**
 * Unknown-kid storm: 1,000 concurrent requests whose tokens carry a kid the guard has not
 * seen, against a Hono server on 127.0.0.1, counting the JWKS fetches. Then the same for
 * broker tokens, counting reloads of the signing keys from the store.
 */
export async function stormBench() {
  section(`3. unknown-kid storm: ${STORM} concurrent requests, each token with a new kid`);
  const idp = await startIssuer();
  const auth = new HonoOIDCAuth({
    issuer: idp.issuer,
    jwksUri: `${idp.issuer}/jwks`,
    jwksCooldownSec: COOLDOWN_SEC,
    logger: silentLogger,
  });
  const app = new Hono();
  app.get("/guard", auth.required(), (c) => c.json({ sub: c.get("token").sub }));
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/guard`;
  const rows: string[][] = [];
  try {
    await idp.addKey("k1", true);
    await idp.addKey("k2", false);
    await idp.addKey("k3", false);
    const sign = (kid: string) =>
      Promise.all(Array.from({ length: STORM }, (_, n) => idp.sign(kid, n)));
    const [warm, rotated, bogus, bogusLater] = await Promise.all([
      idp.sign("k1", 0),
      sign("k2"),
      sign("k3"),
      sign("k3"),
    ]);
    const coolDown = () => new Promise((resolve) => setTimeout(resolve, COOLDOWN_SEC * 1000 + 100));
    await storm(url, [warm as string]);
    await coolDown(); // the warm-up fetched the JWKS: a fetch now would be within the cooldown
    const run = async (label: string, tokens: string[]) => {
      const before = idp.fetches;
      const statuses = await storm(url, tokens);
      rows.push([label, String(idp.fetches - before), statuses]);
      return idp.fetches - before;
    };
    idp.publish("k2");
    const a = await run("IdP rotated its key: new kid, now in the JWKS", rotated);
    const b = await run("kid in no JWKS, within the cooldown", bogus);
    await coolDown();
    const c = await run(`same, after the ${COOLDOWN_SEC} s cooldown`, bogusLater);

    // Broker: own tokens with a kid the instance does not know.
    const store = new CountingStore();
    const broker = new OIDCAuth({
      // guard only: the IdP's issuer and keys, no discovery (the endpoints stay off)
      issuer: idp.issuer,
      jwksUri: `${idp.issuer}/jwks`,
      brokerMode: true,
      brokerStore: store as BrokerStore,
      secret: BENCH_SECRET,
      jwksCooldownSec: COOLDOWN_SEC,
      logger: silentLogger,
    });
    await broker.brokerJwks();
    const { privateKey } = await generateKeyPair("RS256");
    const t = Math.floor(Date.now() / 1000);
    const forged = await Promise.all(
      Array.from({ length: STORM }, (_, n) =>
        new SignJWT({ sub: `u-${n}`, iat: t, exp: t + 600, jti: `j-${n}`, aud: "oidc-auth" })
          .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: `unknown-${n % 10}` })
          .setIssuer(broker.config.brokerIssuer)
          .sign(privateKey),
      ),
    );
    await coolDown();
    const loadsBefore = store.loads;
    const results = await Promise.allSettled(
      forged.map((token) => broker.authenticate(bearerRequest(token))),
    );
    const refused = results.filter((r) => r.status === "rejected").length;
    const d = store.loads - loadsBefore;
    rows.push([
      "broker tokens, unknown kid (store reloads)",
      String(d),
      `${refused}× refused (in-process calls)`,
    ]);
    await broker.close();

    console.log(table(["storm", "JWKS fetches", "answers"], rows));
    console.log(
      `\nCooldown ${COOLDOWN_SEC} s (default 30 s); each storm is ${STORM} requests at once.`,
    );
    const worst = Math.max(a, b, c, d);
    check("unknown-kid storm: ≤ 1 JWKS fetch per cooldown", `${worst} at most`, worst <= 1);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await idp.close();
  }
}
