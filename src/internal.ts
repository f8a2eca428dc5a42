/**
 * `natsmesh/internal`: the machinery under natsmesh's public API — the wire codec and frames,
 * subjects and reserved headers, streamed bodies, the client's mux and call path, the server's
 * adapters and concurrency limiter, connection resolution, tracing, and the parts of traffic,
 * discovery, metrics, log and dev that their public entry points leave out. For natsmesh's own
 * tests, benchmarks and tools, and for code that needs the exact wire format.
 *
 * **Unstable**: nothing here is a semver promise; any release may change or remove it (as nats.js
 * separates `@nats-io/nats-core` from `@nats-io/nats-core/internal`). The stable API is `natsmesh`
 * and its subpaths `gateway`, `traffic`, `discovery`, `metrics`, `log`, `tap` and `dev`
 * (docs/ARCHITECTURE.md, "Public surface"). It re-exports those entry points' names too.
 *
 * @example
 * ```ts
 * import { decodeRequest, encodeRequest } from "natsmesh/internal";
 * const req = decodeRequest(encodeRequest({ method: "GET", path: "/", headers: [], body: new Uint8Array() }));
 * ```
 *
 * @module
 */
export * from "./client/index.js";
export * from "./connect/index.js";
export { ENSURE_NATS_DEFAULTS } from "./dev/ensure-nats.js";
export {
  type FindNatsServerOptions,
  findNatsServer,
  NATS_SERVER_INSTALL_HINT,
  NATS_SERVER_LOOKUP,
} from "./dev/find-binary.js";
export * from "./dev/index.js";
export { describeExit, LOCAL_SERVER_DEFAULTS } from "./dev/local-server.js";
export { acceptsTcp } from "./dev/tcp-probe.js";
export {
  controlSubject,
  describeInstance,
  ENDPOINT_NAME,
  type EndpointCounters,
  type InstanceFacts,
  infoResponse,
  type MicroDescription,
  MicroResponseType,
  pingResponse,
  SRV_PREFIX,
  serviceNameOf,
  statsResponse,
} from "./discovery/documents.js";
export * from "./discovery/index.js";
export {
  assertMicroId,
  assertVersion,
  DEFAULT_VERSION,
  MICRO_NAME,
  microName,
  SEMVER,
} from "./discovery/names.js";
export { answerDiscovery, type DiscoveryResponder } from "./discovery/responder.js";
export {
  DURABLE_DEFAULTS,
  type DurableRecord,
  DurableState,
  type DurableStatus,
  DurableStore,
  type Submitted,
} from "./durable/index.js";
export * from "./log/index.js";
export { DEFAULT_LOG_LEVEL, envLogLevel } from "./log/logger.js";
export { METRIC_NAMES } from "./metrics/collectors.js";
export * from "./metrics/index.js";
export { METHOD_LABELS, type MethodLabel, methodIndex } from "./metrics/labels.js";
export {
  exposeMetricsOverNats,
  INSTANCES_HEADER,
  METRICS_SUBJECT,
  type MetricsExposure,
  metricsSubject,
} from "./metrics/nats.js";
export { ServiceRecorder } from "./metrics/recorder.js";
export * from "./protocol/index.js";
export * from "./server/index.js";
export { type GateCallback, QueueGate } from "./server/queue-gate.js";
export * from "./stream/index.js";
export * from "./tap/index.js";
export * from "./tracing/index.js";
export { CLIENT_CIRCUIT_GAUGE, circuitGauge, GATEWAY_CIRCUIT_GAUGE } from "./traffic/breaker-metrics.js";
export {
  CallGuard,
  type CallGuardOptions,
  DEFAULT_RETRY,
  isRetryableFailure,
} from "./traffic/call-guard.js";
export * from "./traffic/index.js";
export { RECENTLY_SERVED_MS, RecentlyServed, WAIT_FOR_CAPACITY_MS } from "./traffic/recently-served.js";
export { ServiceBreakers } from "./traffic/service-breakers.js";
export { type DeadlineHandle, DeadlineLanes, Deadlines } from "./util/deadline-lanes.js";
