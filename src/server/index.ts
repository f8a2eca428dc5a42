/**
 * Serve existing HTTP handlers over NATS: Node `(req, res)` listeners and Fetch handlers.
 *
 * @module
 */
export { type AccessRecordOptions, AccessRecords, DEFAULT_RECORD_BUFFER } from "./access-records.js";
export { errorResponse, internalError } from "./adapters/errors.js";
export { fetchAdapter } from "./adapters/fetch.js";
export { nodeAdapter } from "./adapters/node.js";
export type {
  FastifyApp,
  FetchApp,
  FetchHandler,
  Handler,
  NodeListener,
  RequestContext,
  WireHandler,
} from "./adapters/types.js";
export { DEDUPE_DEFAULTS, type DedupeOptions, DedupeOutcome } from "./dedupe.js";
export { type HandlerKind, toWireHandler } from "./handler.js";
export { MALFORMED_LOG_INTERVAL_MS } from "./intake.js";
export { ConcurrencyLimiter } from "./limiter.js";
export { DEFAULT_CONCURRENCY, type ServeOptions, serve } from "./serve.js";
export type { ServiceHandle, StopOptions } from "./service-instance.js";
export type { ServiceStats } from "./stats.js";
