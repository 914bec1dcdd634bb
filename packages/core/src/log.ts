/** Where oidc-auth reports what happens. Messages and fields never carry tokens or secrets. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const noop = () => {};

/** The default logger: warnings and errors to the console, nothing else. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (message, fields) => console.warn(`[oidc-auth] ${message}`, fields ?? ""),
  error: (message, fields) => console.error(`[oidc-auth] ${message}`, fields ?? ""),
};

/**
 * The logger oidc-auth writes to: the app's own (or the console), with `app: appName` added
 * to the fields of every line, so that several apps logging to one place can be told apart.
 */
export function withAppName(logger: Logger, appName: string): Logger {
  const tagged = (fields: Record<string, unknown> | undefined) => ({ ...fields, app: appName });
  return {
    debug: (message, fields) => logger.debug(message, tagged(fields)),
    info: (message, fields) => logger.info(message, tagged(fields)),
    warn: (message, fields) => logger.warn(message, tagged(fields)),
    error: (message, fields) => logger.error(message, tagged(fields)),
  };
}

/** A logger that drops everything (tests, or apps that log elsewhere). */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** Names an error for a log line without its message (which may quote upstream input). */
export function describeError(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? { error: err.name, code } : { error: err.name };
  }
  return { error: typeof err };
}
