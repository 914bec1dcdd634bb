import { hash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OIDCAuth } from "@oidc-auth/core";
import type { DevIdp } from "@oidc-auth/dev-idp";
import type { JWK } from "jose";
import { importJWK, jwtVerify } from "jose";
import { runBenchChild } from "./child.js";
import type { IdpEndpoint } from "./fixtures.js";
import {
  BENCH_SECRET,
  bearerRequest,
  brokerTokens,
  idpJwk,
  idpOptions,
  idpTokens,
} from "./fixtures.js";
import { check, fmt, median, section, table } from "./report.js";

/** Distinct tokens cycled through by the cache-miss cases: twice the cache's capacity. */
const DISTINCT = 256;
const MISS_CACHE_SIZE = DISTINCT / 2;

interface Case {
  name: string;
  group: string;
  run: (i: number) => unknown;
}

/** Where each case's cycle through its tokens stands: runs go on where the last one ended. */
const cursor = new WeakMap<(i: number) => unknown, number>();

/** Runs `run` back to back for `ms` milliseconds; answers operations per second. */
async function opsPerSecond(run: (i: number) => unknown, ms: number): Promise<number> {
  const first = cursor.get(run) ?? 0;
  let i = first;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 16; k++) await run(i++);
    now = performance.now();
  }
  cursor.set(run, i);
  return ((i - first) * 1000) / (now - start);
}

/** What the parent hands the micro benchmark's process. */
interface MicroFixture extends IdpEndpoint {
  issuer: string;
  jwk: JWK;
  tokens: string[];
  rounds: number;
  ms: number;
}

interface MicroResult {
  idpHit: number;
  idpMiss: number;
  brokerHit: number;
  brokerMiss: number;
  nodeHashUs: number;
  webHashUs: number;
  verifyUs: number;
}

/**
 * Micro benchmark: `auth.authenticate()` (cache hit, cache miss) against jose's
 * `jwtVerify` with a pre-imported key on the same tokens, for IdP tokens (passthrough)
 * and broker tokens; plus the cost of the cache key (SHA-256) both ways. The tokens are
 * minted here; the measuring runs in a process of its own (see {@link runBenchChild}).
 */
export async function microBench(idp: DevIdp, opts: { rounds: number; ms: number }) {
  section("1. micro: authenticate() vs jose jwtVerify (one call at a time, one process)");
  const dir = mkdtempSync(join(tmpdir(), "oidc-auth-bench-"));
  const fixtureFile = join(dir, "micro.json");
  const fixture: MicroFixture = {
    discoveryUrl: idp.discoveryUrl,
    audience: idp.audience,
    issuer: idp.issuer,
    jwk: await idpJwk(idp),
    tokens: await idpTokens(idp, DISTINCT),
    ...opts,
  };
  writeFileSync(fixtureFile, JSON.stringify(fixture));
  try {
    const result = await runBenchChild<MicroResult>("./micro.ts", {
      BENCH_MICRO_FIXTURE: fixtureFile,
    });
    check(
      "micro: the cache key (SHA-256) is cheaper than a verification",
      `${fmt.us(result.nodeHashUs)} µs node:crypto, ${fmt.us(result.webHashUs)} µs Web Crypto, vs ${fmt.us(result.verifyUs)} µs`,
      result.nodeHashUs < result.verifyUs && result.webHashUs < result.verifyUs,
    );
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The measuring side, in its own process. */
async function measure(fixture: MicroFixture): Promise<MicroResult> {
  const opts = fixture;
  const encoder = new TextEncoder();

  // Passthrough: the dev IdP's RS256 access tokens.
  const idpAuth = new OIDCAuth(idpOptions(fixture));
  const idpMissAuth = new OIDCAuth(idpOptions(fixture, { tokenCacheSize: MISS_CACHE_SIZE }));
  const tokens = fixture.tokens;
  const idpRequests = tokens.map(bearerRequest);
  const idpRequest = idpRequests[0] as Request;
  const idpKey = await importJWK(fixture.jwk, "RS256");
  const idpVerifyOptions = {
    issuer: fixture.issuer,
    audience: fixture.audience,
    algorithms: ["RS256"],
  };

  // Broker: tokens this instance signs (RS256), minted by token exchange.
  const brokerAuth = new OIDCAuth(
    idpOptions(fixture, {
      brokerMode: true,
      tokenExchange: true,
      brokerStoreUrl: "memory://",
      secret: BENCH_SECRET,
    }),
  );
  const broker = await brokerTokens(brokerAuth, tokens[0] as string, DISTINCT);
  const brokerMissAuth = new OIDCAuth(
    idpOptions(fixture, {
      brokerMode: true,
      brokerStore: await brokerAuth.brokerStore(),
      secret: BENCH_SECRET,
      tokenCacheSize: MISS_CACHE_SIZE,
    }),
  );
  const brokerRequests = broker.map(bearerRequest);
  const brokerRequest = brokerRequests[0] as Request;
  const brokerJwk = (await brokerAuth.brokerJwks()).keys[0] as JWK;
  const brokerKey = await importJWK(brokerJwk, brokerJwk.alg ?? "RS256");
  const brokerVerifyOptions = { issuer: brokerAuth.config.brokerIssuer, audience: "oidc-auth" };

  const at = <T>(list: readonly T[], i: number) => list[i % list.length] as T;
  const cases: Case[] = [
    {
      group: "idp",
      name: "IdP token: authenticate(), cache hit",
      run: () => idpAuth.authenticate(idpRequest),
    },
    {
      group: "idp",
      name: "IdP token: authenticate(), cache miss",
      run: (i) => idpMissAuth.authenticate(at(idpRequests, i)),
    },
    {
      group: "idp",
      name: "IdP token: jose jwtVerify, pre-imported key",
      run: (i) => jwtVerify(at(tokens, i), idpKey, idpVerifyOptions),
    },
    {
      group: "broker",
      name: "broker token: authenticate(), cache hit",
      run: () => brokerAuth.authenticate(brokerRequest),
    },
    {
      group: "broker",
      name: "broker token: authenticate(), cache miss",
      run: (i) => brokerMissAuth.authenticate(at(brokerRequests, i)),
    },
    {
      group: "broker",
      name: "broker token: jose jwtVerify, pre-imported key",
      run: (i) => jwtVerify(at(broker, i), brokerKey, brokerVerifyOptions),
    },
    {
      group: "hash",
      name: "cache key: SHA-256, node:crypto hash()",
      run: (i) => hash("sha256", at(tokens, i), "base64"),
    },
    {
      group: "hash",
      name: "cache key: SHA-256, Web Crypto digest()",
      run: (i) => crypto.subtle.digest("SHA-256", encoder.encode(at(tokens, i))),
    },
  ];

  // Warm up every case (JIT, key imports, the caches of the hit cases).
  for (const c of cases) await opsPerSecond(c.run, 150);
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const c of cases) samples.get(c.name)?.push(await opsPerSecond(c.run, opts.ms));
  }
  const medians = new Map(cases.map((c) => [c.name, median(samples.get(c.name) ?? [])]));
  const get = (name: string) => medians.get(name) ?? Number.NaN;

  const baselineOf: Record<string, string> = {
    idp: "IdP token: jose jwtVerify, pre-imported key",
    broker: "broker token: jose jwtVerify, pre-imported key",
    hash: "IdP token: jose jwtVerify, pre-imported key",
  };
  const rows = cases.map((c) => {
    const ops = get(c.name);
    const baseline = get(baselineOf[c.group] as string);
    return [c.name, fmt.int(ops), fmt.us(1e6 / ops), fmt.ratio(ops / baseline)];
  });
  console.log(
    table(["case (median of interleaved rounds)", "ops/s", "µs/op", "vs jose jwtVerify"], rows),
  );
  const stats = idpMissAuth.tokenCacheStats;
  console.log(
    `\n${opts.rounds} interleaved rounds of ${opts.ms} ms per case; miss cases cycle ${DISTINCT} distinct tokens through a ${MISS_CACHE_SIZE}-entry cache (IdP miss guard: ${fmt.int(stats.misses)} misses, ${fmt.int(stats.hits)} hits).`,
  );
  const ratioOf = (i: number, group: string) =>
    get(cases[i]?.name as string) / get(baselineOf[group] as string);
  const result: MicroResult = {
    idpHit: ratioOf(0, "idp"),
    idpMiss: ratioOf(1, "idp"),
    brokerHit: ratioOf(3, "broker"),
    brokerMiss: ratioOf(4, "broker"),
    nodeHashUs: 1e6 / get(cases[6]?.name as string),
    webHashUs: 1e6 / get(cases[7]?.name as string),
    verifyUs: 1e6 / get(baselineOf.idp as string),
  };
  console.log(
    `Cache key: ${fmt.us(result.nodeHashUs)} µs (node:crypto) or ${fmt.us(result.webHashUs)} µs (Web Crypto) against ${fmt.us(result.verifyUs)} µs for one jose verification.`,
  );
  await brokerAuth.close();
  await brokerMissAuth.close();
  return result;
}

const fixtureFile = process.env.BENCH_MICRO_FIXTURE;
if (fixtureFile && process.argv[1]?.endsWith("micro.ts")) {
  const result = await measure(JSON.parse(readFileSync(fixtureFile, "utf8")) as MicroFixture);
  console.log(`RESULT ${JSON.stringify(result)}`);
}
