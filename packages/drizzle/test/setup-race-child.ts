/**
 * One of the processes of setup-race.test.ts: waits for "go" on stdin, opens the store at
 * RACE_DATABASE_URL (which runs setup()), tries to insert generation 1 with its own kid,
 * and prints `{ inserted, kid, winner }` as one JSON line.
 */
import { createInterface } from "node:readline";
import { createBrokerStore } from "../src/index.js";

const url = process.env.RACE_DATABASE_URL;
if (!url) throw new Error("RACE_DATABASE_URL is not set");

process.stdout.write("ready\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === "go") break;
lines.close();

const store = await createBrokerStore(url);
try {
  const kid = `kid-${crypto.randomUUID()}`;
  const inserted = await store.insertSigningKey({
    kid,
    generation: 1,
    alg: "RS256",
    publicJwk: { kty: "RSA", kid, n: "AQAB", e: "AQAB" },
    privateKey: `private-${kid}`,
    createdAt: Math.floor(Date.now() / 1000),
    retiredAt: null,
  });
  const keys = await store.listSigningKeys();
  const winner = keys.find((k) => k.generation === 1)?.kid ?? null;
  process.stdout.write(`${JSON.stringify({ inserted, kid, winner })}\n`);
} finally {
  await store.close();
}
