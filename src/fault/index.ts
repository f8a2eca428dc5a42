/**
 * The fault responder behind `natsmesh fault`: a service on a fault subject (where a canary mapping
 * sends a share of a service's requests) that answers with a chosen status, or delays and forwards
 * to the real instances. It serves and calls, so it sits above the client and the server; the
 * mappings that route a share to it are in `natsmesh/traffic`. See docs/TRAFFIC.md §4.
 *
 * @example
 * ```ts
 * import { serveFault } from "natsmesh/fault";
 * const fault = await serveFault({ nc, service: "weather", delay: 200, forward: "v1" });
 * // ...
 * await fault.stop();
 * ```
 *
 * @module
 */
export { FAULT_HEADER, type FaultHandle, type FaultOptions, serveFault } from "./serve-fault.js";
