/**
 * The one place natsmesh builds its pino loggers: JSON lines, a level from `NATSMESH_LOG_LEVEL`, and
 * credentials redacted from any `headers` object a log line carries.
 *
 * @module
 */
import { type DestinationStream, type Logger, pino } from "pino";

/** The pino levels `NATSMESH_LOG_LEVEL` and {@link CreateLoggerOptions.level} accept. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Level used when neither the option nor `NATSMESH_LOG_LEVEL` names one. */
export const DEFAULT_LOG_LEVEL: LogLevel = "info";

/** Header names whose values never reach a log line (both spellings: Node lower-cases, people don't). */
const SECRET_HEADERS = ["authorization", "Authorization", "cookie", "Cookie", "set-cookie", "Set-Cookie"];

/**
 * pino `redact` paths: the secret headers in a `headers` object at the top of a log line, one level
 * down (`req.headers`, `res.headers`, `request.headers`) and two levels down (`err.response.headers`).
 * Header lists in wire form (`[name, value, ...]` arrays) are not objects and are never logged.
 */
export const REDACT_PATHS: readonly string[] = SECRET_HEADERS.flatMap((name) => {
  const key = `["${name}"]`;
  return [`headers${key}`, `*.headers${key}`, `*.*.headers${key}`];
});

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Minimum level (default: `NATSMESH_LOG_LEVEL` of `env`, else `info`). */
  level?: string;
  /** Logger name, the `name` field of every line (default `natsmesh`). */
  name?: string;
  /** Where the JSON lines go (default: stdout). */
  destination?: DestinationStream;
  /** Environment read for `NATSMESH_LOG_LEVEL` (default: `process.env`). */
  env?: Record<string, string | undefined>;
  /** More pino redact paths, added to {@link REDACT_PATHS}. */
  redact?: readonly string[];
}

function checkLevel(level: string, origin: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new RangeError(`${origin}: expected one of ${LOG_LEVELS.join(", ")}; got '${level}'`);
}

/**
 * The log level from the environment.
 *
 * @param env - the environment (default: `process.env`)
 * @returns `NATSMESH_LOG_LEVEL` when set, else {@link DEFAULT_LOG_LEVEL}
 * @throws RangeError naming `NATSMESH_LOG_LEVEL` when it is not a pino level
 * @example
 * ```ts
 * envLogLevel({ NATSMESH_LOG_LEVEL: "debug" }); // "debug"
 * ```
 */
export function envLogLevel(env: Record<string, string | undefined> = process.env): LogLevel {
  const raw = env.NATSMESH_LOG_LEVEL;
  return raw ? checkLevel(raw, "NATSMESH_LOG_LEVEL") : DEFAULT_LOG_LEVEL;
}

/**
 * Creates a pino logger writing JSON lines, with `Authorization`, `Cookie` and `Set-Cookie` redacted
 * from any `headers`, `req.headers`, `res.headers` (and similar) object it logs. `serve()` uses one
 * as its default logger.
 *
 * @param options - level, name, destination, environment, extra redact paths
 * @returns the logger
 * @throws RangeError when the level (option or `NATSMESH_LOG_LEVEL`) is not a pino level
 * @example
 * ```ts
 * const log = createLogger({ name: "weather", level: "debug" });
 * log.info({ req: { headers: { authorization: "Bearer x" } } }, "hello"); // "authorization":"[Redacted]"
 * ```
 */
export function createLogger({
  level,
  name = "natsmesh",
  destination,
  env = process.env,
  redact = [],
}: CreateLoggerOptions = {}): Logger {
  const options = {
    name,
    level: level === undefined ? envLogLevel(env) : checkLevel(level, "log level"),
    redact: [...REDACT_PATHS, ...redact],
  };
  return destination ? pino(options, destination) : pino(options);
}
