import { execFile } from "node:child_process";
import { chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A Postgres server of the test's own: `initdb` into a temporary folder, its own port on
 * 127.0.0.1, stopped and deleted at the end. It never touches the machine's shared server,
 * so the test may restart it. Binaries from `PG_BIN`, else the newest
 * /usr/lib/postgresql/<version>/bin. As root, the server runs as the `postgres` user
 * (Postgres refuses to run as root).
 */
export interface OwnPostgres {
  url: string;
  /** Runs SQL with psql (as the superuser), for what a test does behind the app's back. */
  sql(statements: string): Promise<string>;
  /** Stops the server (fast: connections are cut), waits `downMs`, starts it again. */
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function postgresBin(): Promise<string> {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = (await readdir(root)).filter((v) => /^\d+$/.test(v)).sort((a, b) => +b - +a);
  if (!versions[0]) throw new Error(`no Postgres under ${root}; set PG_BIN`);
  return join(root, versions[0], "bin");
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const bin = await postgresBin();
  const dir = await mkdtemp(join(tmpdir(), "oidc-auth-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const pg = async (command: string, args: string[]) => {
    const file = join(bin, command);
    return asRoot ? run("runuser", ["-u", "postgres", "--", file, ...args]) : run(file, args);
  };
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const uid = Number(stdout.trim());
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, uid, Number(gid.trim()));
  }
  await pg("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  // client_connection_check_interval: a statement whose client died is cancelled (not
  // finished and committed behind its back), as a killed instance's would be in practice.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c client_connection_check_interval=50ms`;
  const start = () =>
    pg("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", options, "-w", "start"]);
  const stop = (mode: string) => pg("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async sql(statements) {
      const args = ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres"];
      const { stdout } = await run(join(bin, "psql"), [
        ...args,
        "-v",
        "ON_ERROR_STOP=1",
        "-qAt",
        "-c",
        statements,
      ]);
      return stdout;
    },
    async restart(downMs = 0) {
      await stop("fast");
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await stop("immediate").catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
