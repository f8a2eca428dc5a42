/**
 * The client side: a `fetch` and an undici `Dispatcher` that send HTTP requests to services over NATS.
 *
 * @module
 */
export { type CallOptions, callService } from "./call.js";
export { type DispatcherOptions, MeshDispatcher, type MeshDispatchOptions } from "./dispatcher.js";
export {
  createFetch,
  DEFAULT_SUFFIXES,
  DEFAULT_TIMEOUT,
  type FetchAllInit,
  type FetchOptions,
  type MeshFetch,
  type MeshRequestInit,
} from "./fetch.js";
export { DEFAULT_STALL } from "./fetch-all.js";
export { RequestMux } from "./mux.js";
