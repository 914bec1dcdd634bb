/**
 * Which store a broker store URL names. Besides this package's own forms, the SQLAlchemy URLs
 * py-oidc-auth takes are accepted with their driver suffix ignored (`postgresql+asyncpg://`,
 * `sqlite+aiosqlite:///…`, `mysql+aiomysql://…`), and SQLite paths follow SQLAlchemy's rules:
 * `sqlite:///rel/path` (three slashes) is relative to the working directory,
 * `sqlite:////abs/path` (four) absolute, `sqlite://` and `sqlite:///:memory:` in memory.
 */
export type StoreTarget =
  | { kind: "embedded" }
  | { kind: "memory" }
  | { kind: "pglite"; dir: string | undefined }
  | { kind: "postgres"; url: string }
  | { kind: "sqlite"; path: string | undefined }
  | { kind: "mysql"; url: string };

export const SUPPORTED_STORES =
  'memory://, sqlite:///relative/path, sqlite:////absolute/path, sqlite:// (in memory), postgresql://… (also postgres://), mysql://… or mariadb://…, pglite://DIR, pglite://memory (a "+driver" suffix such as postgresql+asyncpg:// is ignored; empty: embedded PGlite under "<dataDir>/<appName>/broker")';

export function parseStoreUrl(url: string | undefined): StoreTarget {
  if (url === undefined || url === "") return { kind: "embedded" };
  const match = /^([a-z][a-z0-9.-]*)(\+[a-z0-9_.-]+)?:\/\/(.*)$/is.exec(url);
  if (!match) throw new Error(`unsupported broker store URL (not a URL): use ${SUPPORTED_STORES}`);
  const scheme = (match[1] ?? "").toLowerCase();
  const rest = match[3] ?? "";
  switch (scheme) {
    case "memory":
      if (rest !== "") throw new Error("memory:// takes nothing after the scheme");
      return { kind: "memory" };
    case "pglite":
      if (rest === "")
        throw new Error("pglite:// needs a folder (pglite://DIR) or pglite://memory");
      return { kind: "pglite", dir: rest === "memory" ? undefined : rest };
    case "postgres":
    case "postgresql":
      return { kind: "postgres", url: match[2] ? `postgresql://${rest}` : url };
    case "mysql":
    case "mariadb":
      return { kind: "mysql", url: `mysql://${rest}` };
    case "sqlite":
      return { kind: "sqlite", path: sqlitePath(rest) };
    case "mongodb":
      throw new Error(
        `MongoDB is not supported as a broker store (scheme "${scheme}${match[2] ?? ""}:"): use one of ${SUPPORTED_STORES}`,
      );
    default:
      throw new Error(
        `unsupported broker store URL (scheme "${scheme}:"): use ${SUPPORTED_STORES}`,
      );
  }
}

/** The file of `sqlite://<rest>` as SQLAlchemy reads it; undefined: in memory. */
function sqlitePath(rest: string): string | undefined {
  if (rest === "") return undefined; // sqlite://
  if (!rest.startsWith("/")) {
    throw new Error(
      "a sqlite URL has no host: write sqlite:///relative/path (three slashes) or sqlite:////absolute/path (four)",
    );
  }
  if (rest.includes("?")) throw new Error("sqlite URL query parameters are not supported");
  const path = decodeURIComponent(rest.slice(1)); // the slash after the empty host
  if (path === "" || path === ":memory:") return undefined;
  return path;
}
