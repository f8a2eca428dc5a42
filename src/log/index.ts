/**
 * Structured logs: the pino logger factory natsmesh uses, with its level from `NATSMESH_LOG_LEVEL`
 * and credentials redacted.
 *
 * @example
 * ```ts
 * import { createLogger } from "natsmesh/log";
 * const logger = createLogger({ name: "weather" });
 * await serve(app, { service: "weather", logger });
 * ```
 *
 * @module
 */
export { type CreateLoggerOptions, createLogger, LOG_LEVELS, type LogLevel } from "./logger.js";
