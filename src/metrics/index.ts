/**
 * Prometheus metrics of natsmesh services (prom-client): recorded by `serve()` at O(1) per request,
 * exposed over HTTP ({@link serveMetricsHttp}) and over NATS (`$NM.METRICS`).
 *
 * @example
 * ```ts
 * import { createMetrics, serveMetricsHttp } from "natsmesh/metrics";
 * const metrics = createMetrics();
 * await serve(app, { service: "weather", metrics });
 * await serveMetricsHttp({ port: 9464, registry: metrics.registry });
 * ```
 *
 * @module
 */
export { type MetricsHttpOptions, type MetricsHttpServer, serveMetricsHttp } from "./http.js";
export {
  createMetrics,
  DEFAULT_BUCKETS,
  defaultMetrics,
  type MeshMetrics,
  type MetricsOptions,
} from "./metrics.js";
export type { ServiceRecorder } from "./recorder.js";
