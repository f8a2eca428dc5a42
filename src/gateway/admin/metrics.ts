/**
 * The gateway's Prometheus metrics, in a registry of its own (served on the admin port).
 *
 * @module
 */
import { Counter, Gauge, type Histogram, Registry } from "prom-client";
import { registerRequestCollectors } from "../../metrics/collectors.js";
import { ServiceRecorder } from "../../metrics/recorder.js";

/** Request duration buckets, in seconds. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type RouteLabels = "route" | "service";

/**
 * The gateway's metrics:
 * `natsmesh_gateway_requests_total{route,service,method,status}`,
 * `natsmesh_gateway_request_duration_seconds{route,service,method}` (histogram),
 * `natsmesh_gateway_in_flight`, `natsmesh_gateway_retries_total{route,service}`,
 * `natsmesh_gateway_no_responders_total{route,service}`, `natsmesh_gateway_timeouts_total{route,service}`,
 * `natsmesh_gateway_hedges_sent_total{route,service}`, `natsmesh_gateway_hedges_won_total{route,service}`,
 * `natsmesh_gateway_hedge_budget_exhausted_total{route,service}`.
 * Method labels are the standard methods and `OTHER` (bounded values). Requests and durations are
 * counted in typed arrays per route and service and turned into Prometheus series only when scraped:
 * prom-client hashes the labels on every call, a cost paid per request otherwise.
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
  /** Per route, then per service: answers by method and status, and durations. */
  readonly #recorders = new Map<string, Map<string, ServiceRecorder>>();
  /** Requests answered (filled from the recorders when scraped: count with {@link GatewayMetrics.observe}). */
  readonly requests: Counter<string>;
  /** Time from the request's arrival to the end of its answer (filled like {@link GatewayMetrics.requests}). */
  readonly duration: Histogram<string>;
  /** Requests being served now. */
  readonly inFlight: Gauge;
  /** Re-submissions of idempotent requests. */
  readonly retries: Counter<RouteLabels>;
  /** Attempts that found no instance of the service. */
  readonly noResponders: Counter<RouteLabels>;
  /** Requests answered 504. */
  readonly timeouts: Counter<RouteLabels>;
  /** Copies of late idempotent requests sent (hedged requests). */
  readonly hedgesSent: Counter<RouteLabels>;
  /** Copies whose answer came first. */
  readonly hedgesWon: Counter<RouteLabels>;
  /** Copies due but not sent: the hedge budget was spent. */
  readonly hedgeBudgetExhausted: Counter<RouteLabels>;
  /** Requests sent to a named healthy instance while another of the service was silent (outlier ejection). */
  readonly routedAround: Counter<RouteLabels>;

  /**
   * @example
   * ```ts
   * new GatewayMetrics().registry.contentType;
   * ```
   */
  constructor() {
    const registers = [this.registry];
    const recorders = this.#recorders;
    ({ requests: this.requests, duration: this.duration } = registerRequestCollectors(
      this.registry,
      function* () {
        for (const byService of recorders.values()) yield* byService.values();
      },
      DURATION_BUCKETS,
      {
        requests: { name: "natsmesh_gateway_requests_total", help: "Requests answered by the gateway" },
        duration: {
          name: "natsmesh_gateway_request_duration_seconds",
          help: "Time from a request's arrival to the end of its answer",
        },
        labelNames: ["route", "service"],
      },
    ));
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
    this.hedgesSent = new Counter({
      name: "natsmesh_gateway_hedges_sent_total",
      help: "Copies of late idempotent requests sent (hedged requests)",
      labelNames: ["route", "service"],
      registers,
    });
    this.hedgesWon = new Counter({
      name: "natsmesh_gateway_hedges_won_total",
      help: "Hedged copies whose answer came first",
      labelNames: ["route", "service"],
      registers,
    });
    this.hedgeBudgetExhausted = new Counter({
      name: "natsmesh_gateway_hedge_budget_exhausted_total",
      help: "Hedged copies due but not sent: the route's hedge budget for the service was spent",
      labelNames: ["route", "service"],
      registers,
    });
    this.routedAround = new Counter({
      name: "natsmesh_gateway_routed_around_total",
      help: "Attempts sent to a named healthy instance because another instance of the service was silent",
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
   * @example
   * ```ts
   * metrics.observe("default", "weather", "GET", 200, 0.003);
   * ```
   */
  observe(route: string, service: string, method: string, status: number, seconds: number): void {
    // Two lookups instead of a key string built (and hashed) per request.
    let byService = this.#recorders.get(route);
    if (byService === undefined) {
      byService = new Map();
      this.#recorders.set(route, byService);
    }
    let recorder = byService.get(service);
    if (recorder === undefined) {
      recorder = new ServiceRecorder(service, DURATION_BUCKETS, { route, service });
      byService.set(service, recorder);
    }
    recorder.record(method, status, seconds);
  }
}
