/**
 * Load generator used when `wrk` is not installed: autocannon, run in this separate
 * process so it does not share the server's event loop. Prints one JSON line shaped like
 * lua/bearer.lua's.
 *
 * argv: <url> <connections> <seconds> <token file> <rotate: 1|0>
 */
import { readFileSync } from "node:fs";
// @ts-expect-error autocannon ships no type declarations
import autocannon from "autocannon";

const [url, connections, seconds, tokenFile, rotate] = process.argv.slice(2);
const tokens = tokenFile ? readFileSync(tokenFile, "utf8").split("\n").filter(Boolean) : [];
let index = 0;
const bearer = () => `Bearer ${tokens[rotate === "1" ? index++ % tokens.length : 0]}`;

interface Result {
  requests: { total: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number };
}

const result = (await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    {
      setupRequest: (request: { headers?: Record<string, string> }) => ({
        ...request,
        headers: { ...request.headers, authorization: bearer() },
      }),
    },
  ],
})) as Result;
console.log(
  JSON.stringify({
    requests: result.requests.total,
    durationUs: Math.round(result.duration * 1e6),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    p50Us: result.latency.p50 * 1000,
    p99Us: result.latency.p99 * 1000,
  }),
);
