/**
 * The one place natsmesh builds its pino loggers: JSON lines, a level from `NATSMESH_LOG_LEVEL`, and
 * credentials redacted from any `headers` object a log line carries.
 *
 * @module
 */
import { type DestinationStream, type Logger, pino } from "pino";

/**
 * The pino levels `NATSMESH_LOG_LEVEL` and {@link CreateLoggerOptions.level} accept.
 *
 * @example
 * ```ts
 * const level = LOG_LEVELS.includes(argv.level) ? argv.level : "info";
 * ```
 */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
/**
 * One of {@link LOG_LEVELS}.
 *
 * @example
 * ```ts
 * const level: LogLevel = "warn"; // fatal, error, warn, info, debug, trace or silent
 * const logger = createLogger({ level });
 * ```
 */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Level used when neither the option nor `NATSMESH_LOG_LEVEL` names one. */
export const DEFAULT_LOG_LEVEL: LogLevel = "info";

/** Header names (any case) whose values never reach a log line. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(["authorization", "cookie", "set-cookie"]);
const REDACTED = "[Redacted]";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `headers` with its secret values replaced, or the same object when it holds none. */
function redactHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let out = headers;
  for (const name of Object.keys(headers)) {
    if (SECRET_HEADERS.has(name.toLowerCase())) {
      if (out === headers) out = { ...headers };
      out[name] = REDACTED;
    }
  }
  return out;
}

/**
 * Redacts the secret headers of a `headers` object at the top of a log line, one level down
 * (`req.headers`, `res.headers`) and two levels down (`err.response.headers`), copying only what
 * changes. Not pino's own `redact`: its wildcard paths cost many times the line itself (figures in
 * BENCHMARKS.md, "Measured reasons for fast paths"); this walks the line's own keys.
 */
function redactLine(obj: Record<string, unknown>, depth = 2): Record<string, unknown> {
  let out = obj;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (!isObject(value)) continue;
    const redacted =
      key === "headers" ? redactHeaders(value) : depth > 0 ? redactLine(value, depth - 1) : value;
    if (redacted !== value) {
      if (out === obj) out = { ...obj };
      out[key] = redacted;
    }
  }
  return out;
}

/**
 * Options of {@link createLogger}.
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: "debug", name: "orders", redact: ["body.password"] });
 * ```
 */
export interface CreateLoggerOptions {
  /** Minimum level (default: `NATSMESH_LOG_LEVEL` of `env`, else `info`). */
  level?: string;
  /** Logger name, the `name` field of every line (default `natsmesh`). */
  name?: string;
  /** Where the JSON lines go (default: stdout). */
  destination?: DestinationStream;
  /** Environment read for `NATSMESH_LOG_LEVEL` (default: `process.env`). */
  env?: Record<string, string | undefined>;
  /** pino redact paths to apply as well (pino's wildcard paths are slow: prefer exact ones). */
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
    formatters: { log: (obj: Record<string, unknown>) => redactLine(obj) },
    ...(redact.length > 0 && { redact: [...redact] }),
  };
  return destination ? pino(options, destination) : pino(options);
}
