/**
 * Serve existing HTTP handlers over NATS: Node `(req, res)` listeners and Fetch handlers.
 *
 * @module
 */
export { errorResponse, internalError } from "./adapters/errors.js";
export { fetchAdapter } from "./adapters/fetch.js";
export { nodeAdapter } from "./adapters/node.js";
export type {
  FetchApp,
  FetchHandler,
  Handler,
  NodeListener,
  RequestContext,
  WireHandler,
} from "./adapters/types.js";
export { type HandlerKind, toWireHandler } from "./handler.js";
export { ConcurrencyLimiter } from "./limiter.js";
export {
  DEFAULT_CONCURRENCY,
  MALFORMED_LOG_INTERVAL_MS,
  type ServeOptions,
  type ServiceHandle,
  type ServiceStats,
  serve,
} from "./serve.js";
