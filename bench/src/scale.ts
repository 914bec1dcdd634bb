import { startDevIdp } from "@oidc-auth/dev-idp";
import { startInstance } from "../../test-support/hono-instances.js";
import { startOwnPostgres } from "../../test-support/own-postgres.js";
import { startRoundRobin } from "../../test-support/round-robin.js";
import { fmt, median, section, table } from "./report.js";

/**
 * 5. scale: broker mode behind a round-robin proxy on 127.0.0.1, with 1 and then 3
 * instances of the Hono example (processes of their own) on one Postgres of the bench's
 * own (initdb into a temporary folder). Measured in the same run, interleaved:
 *
 * - login: `GET login` of native clients (own `code_challenge`, each from its own address),
 *   the pending login written to the store, 302 to the IdP;
 * - refresh storm: as many sessions as connections, each refreshed over and over (every
 *   refresh one rotation: lease, IdP refresh at the dev IdP, conditional UPDATE).
 *
 * Everything shares this machine's cores: the dev IdP (in this process), Postgres, the
 * proxy and the instances, so 3 instances show what contention leaves, not a speed-up.
 */
export async function scaleBench(opts: { rounds: number; seconds: number }): Promise<void> {
  section("5. scale: broker mode through a round-robin proxy, 1 vs 3 instances");
  const [idp, pg] = await Promise.all([startDevIdp(), startOwnPostgres()]);
  const backends: string[] = [];
  const proxy = await startRoundRobin(backends);
  const client = idp.clients.find((c) => c.clientSecret) ?? idp.clients[0];
  const env = {
    OIDC_DISCOVERY_URL: idp.discoveryUrl,
    OIDC_CLIENT_ID: client?.clientId ?? "",
    OIDC_CLIENT_SECRET: client?.clientSecret ?? "",
    OIDC_AUDIENCE: idp.audience,
    OIDC_SECRET: "bench-secret-bench-secret-bench-secret-01",
    OIDC_ALLOW_LOOPBACK_REDIRECTS: "true",
    OIDC_PROXY: proxy.url,
    OIDC_REDIRECT_URIS: `${proxy.url}/callback`,
    OIDC_BROKER_MODE: "true",
    OIDC_BROKER_STORE_URL: pg.url,
    OIDC_BROKER_AUDIENCE: "bench-api",
    OIDC_CLIENT_IP_HEADER: "x-forwarded-for",
    OIDC_RATE_LIMITS: "false",
  };
  const instances = [await startInstance(env)];
  instances.push(...(await Promise.all([startInstance(env), startInstance(env)])));
  const connections = 20;
  try {
    // The sessions of the refresh storm: full browser logins through the proxy.
    backends.push(...instances.map((i) => i.url));
    const credentials: string[] = [];
    for (let i = 0; i < connections; i++) credentials.push(await browserLogin(proxy.url, idp));
    const results = new Map<string, number[]>();
    for (let round = 0; round < opts.rounds; round++) {
      for (const count of round % 2 ? [3, 1] : [1, 3]) {
        backends.splice(0, backends.length, ...instances.slice(0, count).map((i) => i.url));
        const login = await measure(opts.seconds, connections, async (worker, n) => {
          const response = await fetch(
            `${proxy.url}/api/auth/v2/login?${new URLSearchParams({
              redirect_uri: "http://127.0.0.1:49152/callback",
              code_challenge: challenge(worker, n, round, count),
              code_challenge_method: "S256",
            })}`,
            {
              redirect: "manual",
              headers: { "x-forwarded-for": `10.${count}.${worker}.${n % 250}` },
            },
          );
          await response.body?.cancel();
          return response.status === 302;
        });
        const storm = await measure(opts.seconds, connections, async (worker) => {
          const response = await fetch(`${proxy.url}/api/auth/v2/token`, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ "refresh-token": credentials[worker] as string }),
          });
          if (response.status !== 200) {
            await response.body?.cancel();
            return false;
          }
          credentials[worker] = (
            (await response.json()) as { refresh_token: string }
          ).refresh_token;
          return true;
        });
        push(results, `login ${count}`, login);
        push(results, `refresh ${count}`, storm);
      }
    }
    const row = (name: string, key: string) => {
      const one = median(results.get(`${key} 1`) ?? []);
      const three = median(results.get(`${key} 3`) ?? []);
      return [name, fmt.int(one), fmt.int(three), fmt.ratio(three / one)];
    };
    console.log(
      table(
        ["through the proxy", "1 instance req/s", "3 instances req/s", "3 ÷ 1"],
        [
          row("login: native GET login (pending login stored)", "login"),
          row("refresh storm: rotation incl. the IdP refresh", "refresh"),
        ],
      ),
    );
    console.log(
      `\n${connections} connections, medians of ${opts.rounds} interleaved rounds × ${opts.seconds} s; only 302 (login) and 200 (refresh) answers count.`,
    );
  } finally {
    await Promise.all(instances.map((i) => i.stop()));
    await proxy.close();
    await idp.stop();
    await pg.stop();
  }
}

function push(results: Map<string, number[]>, key: string, value: number): void {
  results.set(key, [...(results.get(key) ?? []), value]);
}

/** A well-formed S256 challenge that no other request of the run uses. */
function challenge(worker: number, n: number, round: number, count: number): string {
  return `${round}-${count}-${worker}-${n}-`.padEnd(43, "x");
}

/** Successful requests per second of `connections` workers, each one request at a time. */
async function measure(
  seconds: number,
  connections: number,
  request: (worker: number, n: number) => Promise<boolean>,
): Promise<number> {
  const until = Date.now() + seconds * 1000;
  const started = Date.now();
  let ok = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      for (let n = 0; Date.now() < until; n++) if (await request(worker, n)) ok++;
    }),
  );
  return ok / ((Date.now() - started) / 1000);
}

/** A browser login through the proxy; answers the refresh credential. */
async function browserLogin(
  base: string,
  idp: Awaited<ReturnType<typeof startDevIdp>>,
): Promise<string> {
  const params = new URLSearchParams({ redirect_uri: `${base}/callback` });
  const start = await fetch(`${base}/api/auth/v2/login?${params}`, { redirect: "manual" });
  const cookie = (start.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const redirect = await idp.completeLogin(start.headers.get("location") as string, "alice");
  const done = await fetch(`${base}/api/auth/v2/callback${redirect.search}`, {
    headers: { cookie },
  });
  if (done.status !== 200) throw new Error(`login answered ${done.status}`);
  return ((await done.json()) as { refresh_token: string }).refresh_token;
}
