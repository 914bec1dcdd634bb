import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DevIdp } from "@oidc-auth/dev-idp";
import { idpJwk, idpJwksUri, idpTokens } from "./fixtures.js";
import type { LoadResult } from "./load.js";
import { generateLoad, loadGenerator } from "./load.js";
import { check, fmt, median, section, table } from "./report.js";

/** Tokens cycled through by the rotating routes; the miss guard caches half as many. */
const ROTATING = 2000;
const MISS_CACHE_SIZE = 1000;
const CONNECTIONS = [2, 50] as const;

interface Route {
  key: string;
  label: string;
  path: string;
  rotate: boolean;
}

const ROUTES: Route[] = [
  { key: "public", label: "public route (no guard)", path: "/public", rotate: false },
  {
    key: "floor",
    label: "floor: a middleware that only reads the header",
    path: "/floor",
    rotate: false,
  },
  {
    key: "hashFloor",
    label: "hash floor: a handler that reads the header and SHA-256s it",
    path: "/hash-floor",
    rotate: false,
  },
  {
    key: "hit",
    label: "`required()` middleware, same token (cache hit)",
    path: "/guard",
    rotate: false,
  },
  {
    key: "hitWrap",
    label: "`required(handler)`, same token (cache hit)",
    path: "/guard-wrap",
    rotate: false,
  },
  {
    key: "miss",
    label: "`required()` middleware, rotating tokens (cache miss)",
    path: "/guard-miss",
    rotate: true,
  },
  {
    key: "missWrap",
    label: "`required(handler)`, rotating tokens (cache miss)",
    path: "/guard-wrap-miss",
    rotate: true,
  },
  {
    key: "missNoCache",
    label: "`required(handler)`, rotating tokens, cache disabled",
    path: "/guard-wrap-nocache",
    rotate: true,
  },
  { key: "jose", label: "bare jose jwtVerify, pre-imported key", path: "/jose", rotate: true },
  { key: "honoJwk", label: "hono/jwk with jwks_uri", path: "/hono-jwk", rotate: true },
  { key: "honoJwkKeys", label: "hono/jwk with static keys", path: "/hono-jwk-keys", rotate: true },
];

const serverScript = fileURLToPath(new URL("./http-server.ts", import.meta.url));
const benchDir = fileURLToPath(new URL("..", import.meta.url));

/** Starts the benchmark server in its own process; answers its URL and a stop function. */
async function startServer(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", serverScript], {
    cwd: benchDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /READY (\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`benchmark server exited ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/**
 * HTTP benchmark: Hono on @hono/node-server in one process, a load generator in another,
 * every route run in turn within each round (interleaved), medians of the rounds.
 */
export async function httpBench(idp: DevIdp, opts: { rounds: number; seconds: number }) {
  const generator = loadGenerator();
  section(`2. HTTP: Hono on @hono/node-server, 127.0.0.1, load by ${generator} in another process`);
  const dir = mkdtempSync(join(tmpdir(), "oidc-auth-bench-"));
  const tokenFile = join(dir, "tokens.txt");
  writeFileSync(tokenFile, `${(await idpTokens(idp, ROTATING)).join("\n")}\n`);
  const server = await startServer({
    BENCH_DISCOVERY_URL: idp.discoveryUrl,
    BENCH_AUDIENCE: idp.audience,
    BENCH_ISSUER: idp.issuer,
    BENCH_JWKS_URI: await idpJwksUri(idp),
    BENCH_JWK: JSON.stringify(await idpJwk(idp)),
    BENCH_MISS_CACHE_SIZE: String(MISS_CACHE_SIZE),
  });
  const samples = new Map<string, (LoadResult & { cpuUs: number })[]>();
  /** Requests the IdP got during each route's measured runs (discovery, JWKS, anything). */
  const idpCalls = new Map<string, number>();
  const idpTotal = () => [...idp.hits.values()].reduce((a, b) => a + b, 0);
  const cell = (route: string, connections: number) => `${route}@${connections}`;
  const failures: string[] = [];
  const serverStats = async () =>
    (await (await fetch(`${server.url}/stats`)).json()) as {
      cpuUs: number;
      guard: { hits: number; misses: number };
      miss: { hits: number; misses: number };
    };
  try {
    const load = (route: Route, connections: number, seconds: number) =>
      generateLoad(generator, {
        url: `${server.url}${route.path}`,
        connections,
        seconds,
        tokenFile,
        rotate: route.rotate,
      });
    for (const route of ROUTES) await load(route, 50, 1); // warm-up: JIT, discovery, JWKS
    for (let round = 0; round < opts.rounds; round++) {
      for (const connections of CONNECTIONS) {
        // Each round starts at another route, so no route always runs first or last.
        for (let i = 0; i < ROUTES.length; i++) {
          const route = ROUTES[(i + round) % ROUTES.length] as Route;
          const before = (await serverStats()).cpuUs;
          const idpBefore = idpTotal();
          const result = await load(route, connections, opts.seconds);
          const cpuUs = ((await serverStats()).cpuUs - before) / Math.max(1, result.requests);
          idpCalls.set(route.key, (idpCalls.get(route.key) ?? 0) + idpTotal() - idpBefore);
          if (result.errors > 0 || result.non2xx > 0) {
            failures.push(
              `${route.path} @${connections}: ${result.errors} socket errors, ${result.non2xx} non-2xx`,
            );
          }
          const key = cell(route.key, connections);
          samples.set(key, [...(samples.get(key) ?? []), { ...result, cpuUs }]);
        }
      }
    }
    const stats = await serverStats();
    const of = (route: string, connections: number) => samples.get(cell(route, connections)) ?? [];
    const rps = (route: string, c: number) =>
      median(of(route, c).map((r) => (r.requests * 1e6) / r.durationUs));
    const p99 = (route: string, c: number) => median(of(route, c).map((r) => r.p99Us));
    const cpu = (route: string, c: number) => median(of(route, c).map((r) => r.cpuUs));
    const rows = ROUTES.map((route) => [
      route.label,
      ...CONNECTIONS.flatMap((c) => [
        fmt.int(rps(route.key, c)),
        fmt.ratio(rps(route.key, c) / rps("public", c)),
        (p99(route.key, c) / 1000).toFixed(1),
      ]),
      cpu(route.key, 50).toFixed(1),
      fmt.int(idpCalls.get(route.key) ?? 0),
    ]);
    console.log(
      table(
        [
          "route (medians)",
          ...CONNECTIONS.flatMap((c) => [`${c} conn req/s`, "× public", "p99 ms"]),
          "server CPU µs/req",
          "IdP calls",
        ],
        rows,
      ),
    );
    const ratio = (a: string, b: string, c: number) => rps(a, c) / rps(b, c);
    console.log(
      `\n${opts.rounds} interleaved rounds × ${opts.seconds} s per route and connection count (load by ${generator}: 1 thread); rotating routes cycle ${ROTATING} distinct RS256 tokens, the miss guard caches ${MISS_CACHE_SIZE}. Server CPU: the server process's user+system time per request at 50 connections. IdP calls: requests the IdP got during the route's measured runs.`,
    );
    console.log(
      `Guard caches: same-token guard ${fmt.int(stats.guard.hits)} hits / ${fmt.int(stats.guard.misses)} misses; rotating guard ${fmt.int(stats.miss.hits)} hits / ${fmt.int(stats.miss.misses)} misses.`,
    );
    console.log("\nRatios (req/s):");
    console.log(
      table(
        ["ratio", ...CONNECTIONS.map((c) => `${c} conn`)],
        [
          ["cache hit ÷ public: required(handler)", "hitWrap", "public"],
          ["cache hit ÷ public: required() middleware", "hit", "public"],
          ["hash floor ÷ public", "hashFloor", "public"],
          ["middleware floor ÷ public", "floor", "public"],
          ["cache hit ÷ hash floor: required(handler)", "hitWrap", "hashFloor"],
          ["cache hit ÷ middleware floor: required() middleware", "hit", "floor"],
          ["cache miss ÷ bare jose: required(handler)", "missWrap", "jose"],
          ["cache miss ÷ bare jose: required() middleware", "miss", "jose"],
          ["cache disabled ÷ bare jose: required(handler)", "missNoCache", "jose"],
          ["cache miss ÷ hono/jwk (jwks_uri): required() middleware", "miss", "honoJwk"],
          ["cache miss ÷ hono/jwk (static keys): required() middleware", "miss", "honoJwkKeys"],
          ["cache hit ÷ bare jose: required() middleware", "hit", "jose"],
        ].map(([label, a, b]) => [
          label as string,
          ...CONNECTIONS.map((c) => fmt.ratio(ratio(a as string, b as string, c))),
        ]),
      ),
    );
    const over = (a: string, b: string) => {
      const delta = cpu(a, 50) - cpu(b, 50);
      return `${delta < 0 ? "−" : "+"}${Math.abs(delta).toFixed(1)} µs`;
    };
    console.log(
      `Server CPU per request at 50 connections: over the public route, the middleware floor ${over("floor", "public")}, the hash floor ${over("hashFloor", "public")}, a cache hit ${over("hitWrap", "public")} with required(handler) and ${over("hit", "public")} as middleware; over bare jose, a cache miss ${over("missWrap", "jose")} with required(handler) and ${over("miss", "jose")} as middleware, and ${over("missNoCache", "jose")} with the cache disabled.`,
    );
    if (failures.length > 0) console.log(`\nFAILED REQUESTS:\n  ${failures.join("\n  ")}`);
    check(
      "HTTP: runs without errors or non-2xx answers",
      failures.length === 0 ? "none" : `${failures.length} runs`,
      failures.length === 0,
    );
    const hit = Math.max(ratio("hitWrap", "public", 50), ratio("hit", "public", 50));
    const missJose = Math.max(ratio("missWrap", "jose", 50), ratio("miss", "jose", 50));
    const missJwk = ratio("miss", "honoJwk", 50);
    check("cache-hit route ≥ 0.9× public (50 conn, better form)", fmt.ratio(hit), hit >= 0.9);
    check(
      "cache-miss route ≥ 1.0× bare jose (50 conn, better form)",
      fmt.ratio(missJose),
      missJose >= 1.0,
    );
    check("cache-miss route ≥ 2× hono/jwk (50 conn, middleware)", fmt.ratio(missJwk), missJwk >= 2);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
