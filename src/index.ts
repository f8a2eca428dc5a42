/**
 * natsmesh: HTTP microservices over NATS.
 *
 * - {@link createFetch} / {@link MeshDispatcher}: call a service over NATS with `fetch` or undici.
 * - {@link serve}: serve an existing Node or Fetch handler over NATS, in a queue group.
 * - {@link connect}: a NATS connection configured from the standard NATS environment.
 * - {@link queryServices}, {@link createMetrics}, {@link createLogger}: operations — NATS micro
 *   discovery, Prometheus metrics, pino logs (see docs/OPERATIONS.md).
 *
 * @module
 */
export * from "./client/index.js";
export * from "./connect/index.js";
export * from "./discovery/index.js";
export * from "./log/index.js";
export * from "./metrics/index.js";
export * from "./protocol/index.js";
export * from "./server/index.js";
