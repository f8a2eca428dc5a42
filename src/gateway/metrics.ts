/**
 * The gateway's Prometheus metrics, in a registry of its own (served on the admin port).
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Methods reported by name; any other becomes `OTHER` (bounded label values). */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Request duration buckets, in seconds. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type RouteLabels = "route" | "service";

/**
 * The gateway's metrics:
 * `natsmesh_gateway_requests_total{route,service,method,status}`,
 * `natsmesh_gateway_request_duration_seconds{route,service,method}` (histogram),
 * `natsmesh_gateway_in_flight`, `natsmesh_gateway_retries_total{route,service}`,
 * `natsmesh_gateway_no_responders_total{route,service}`, `natsmesh_gateway_timeouts_total{route,service}`.
 *
 * @example
 * ```ts
 * const metrics = new GatewayMetrics();
 * metrics.observe("api", "billing", "GET", 200, 0.004);
 * console.log(await metrics.registry.metrics());
 * ```
 */
export class GatewayMetrics {
  /** The registry holding only the gateway's metrics. */
  readonly registry = new Registry();
  /** Requests answered. */
  readonly requests: Counter<RouteLabels | "method" | "status">;
  /** Time from the request's arrival to the end of its answer. */
  readonly duration: Histogram<RouteLabels | "method">;
  /** Requests being served now. */
  readonly inFlight: Gauge;
  /** Re-submissions of idempotent requests. */
  readonly retries: Counter<RouteLabels>;
  /** Attempts that found no instance of the service. */
  readonly noResponders: Counter<RouteLabels>;
  /** Requests answered 504. */
  readonly timeouts: Counter<RouteLabels>;

  /**
   * @throws never
   * @example
   * ```ts
   * new GatewayMetrics().registry.contentType;
   * ```
   */
  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "natsmesh_gateway_requests_total",
      help: "Requests answered by the gateway",
      labelNames: ["route", "service", "method", "status"],
      registers,
    });
    this.duration = new Histogram({
      name: "natsmesh_gateway_request_duration_seconds",
      help: "Time from a request's arrival to the end of its answer",
      labelNames: ["route", "service", "method"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.inFlight = new Gauge({
      name: "natsmesh_gateway_in_flight",
      help: "Requests being served",
      registers,
    });
    this.retries = new Counter({
      name: "natsmesh_gateway_retries_total",
      help: "Idempotent requests sent again after no responders or a lost connection",
      labelNames: ["route", "service"],
      registers,
    });
    this.noResponders = new Counter({
      name: "natsmesh_gateway_no_responders_total",
      help: "Attempts that found no instance of the service",
      labelNames: ["route", "service"],
      registers,
    });
    this.timeouts = new Counter({
      name: "natsmesh_gateway_timeouts_total",
      help: "Requests answered 504 because the service did not answer in time",
      labelNames: ["route", "service"],
      registers,
    });
  }

  /**
   * Counts one answered request and its duration.
   *
   * @param route - route name (`none` without a route)
   * @param service - service name (empty without a route)
   * @param method - request method (unknown methods are counted as `OTHER`)
   * @param status - status answered (499 when the client went away first)
   * @param seconds - duration
   * @returns nothing
   * @throws never
   * @example
   * ```ts
   * metrics.observe("default", "weather", "GET", 200, 0.003);
   * ```
   */
  observe(route: string, service: string, method: string, status: number, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : "OTHER";
    this.requests.inc({ route, service, method: m, status: String(status) });
    this.duration.observe({ route, service, method: m }, seconds);
  }
}
