/**
 * The capacity signal as Prometheus gauges, read from an aggregator's picture when scraped: what a
 * Kubernetes HPA (through prometheus-adapter) or KEDA's prometheus scaler scales a service on.
 *
 * @module
 */
import { Gauge, type Registry } from "prom-client";
import type { MeshInsight } from "./aggregator.js";
import type { ServiceView } from "./view.js";

/**
 * Names of the capacity metrics, each labelled `{service}` but the target.
 *
 * @example
 * ```ts
 * // A KEDA prometheus trigger's query for the instances "orders" needs:
 * const query = `${CAPACITY_METRICS.needed}{service="orders"}`;
 * ```
 */
export const CAPACITY_METRICS = {
  /** Gauge: instances of the service reporting. */
  instances: "natsmesh_insight_instances",
  /** Gauge: requests answered per second over the window. */
  rate: "natsmesh_insight_request_rate",
  /** Gauge: answers with status ≥ 500 per second over the window. */
  errorRate: "natsmesh_insight_error_rate",
  /** Gauge: median answer time over the window, in seconds. */
  p50: "natsmesh_insight_p50_seconds",
  /** Gauge: 99th percentile answer time over the window, in seconds. */
  p99: "natsmesh_insight_p99_seconds",
  /** Gauge: requests running over every instance (mean over the window). */
  inFlight: "natsmesh_insight_in_flight",
  /** Gauge: sum of the instances' concurrency limits. */
  limit: "natsmesh_insight_concurrency_limit",
  /** Gauge: in-flight ÷ the summed concurrency limit. */
  saturation: "natsmesh_insight_saturation",
  /** Gauge: instances needed for the target utilisation, `ceil(in-flight ÷ (limit × target))`. */
  needed: "natsmesh_insight_instances_needed",
  /** Gauge: attempts per second that found no instance, as this process's calls saw them. */
  noResponders: "natsmesh_insight_no_responder_rate",
  /** Gauge: requests per second this process's calls timed out on. */
  callerTimeouts: "natsmesh_insight_caller_timeout_rate",
  /** Gauge: the target utilisation of `needed`. */
  target: "natsmesh_insight_target_utilisation",
} as const;

const HELP: Record<keyof typeof CAPACITY_METRICS, string> = {
  instances: "Instances of the service reporting",
  rate: "Requests answered per second over the window",
  errorRate: "Answers with status >= 500 per second over the window",
  p50: "Median answer time over the window, in seconds",
  p99: "99th percentile answer time over the window, in seconds",
  inFlight: "Requests running over every instance (mean over the window)",
  limit: "Sum of the instances' concurrency limits",
  saturation: "In-flight divided by the summed concurrency limit",
  needed: "Instances needed for the target utilisation: ceil(in-flight / (limit x target))",
  noResponders: "Attempts per second that found no instance, as this process's calls saw them",
  callerTimeouts: "Requests per second this process's calls timed out on",
  target: "Target utilisation of natsmesh_insight_instances_needed",
};

const READ: Record<Exclude<keyof typeof CAPACITY_METRICS, "target">, (s: ServiceView) => number | null> = {
  instances: (s) => s.instances.length,
  rate: (s) => s.rate,
  errorRate: (s) => s.errorRate,
  p50: (s) => s.p50,
  p99: (s) => s.p99,
  inFlight: (s) => s.inFlight,
  limit: (s) => s.limit,
  saturation: (s) => s.saturation,
  needed: (s) => s.needed,
  noResponders: (s) => s.noResponderRate,
  callerTimeouts: (s) => s.callerTimeoutRate,
};

/**
 * Registers the capacity gauges in `registry`; each reads `insight.view()` when scraped (a service
 * without answers in the window has no p50/p99 series).
 *
 * @param registry - the prom-client registry (the gateway's, or `natsmesh dashboard`'s own)
 * @param insight - the aggregator
 * @throws prom-client's Error when the registry already has a metric of one of these names
 * @example
 * ```ts
 * const registry = new Registry();
 * registerCapacityMetrics(registry, createInsight(nc));
 * console.log(await registry.metrics());
 * ```
 */
export function registerCapacityMetrics(registry: Registry, insight: MeshInsight): void {
  const registers = [registry];
  for (const [k, read] of Object.entries(READ) as Array<
    [keyof typeof READ, (s: ServiceView) => number | null]
  >) {
    new Gauge({
      name: CAPACITY_METRICS[k],
      help: HELP[k],
      labelNames: ["service"],
      registers,
      collect() {
        this.reset();
        for (const s of insight.view().services) {
          const value = read(s);
          if (value !== null) this.set({ service: s.service }, value);
        }
      },
    });
  }
  new Gauge({
    name: CAPACITY_METRICS.target,
    help: HELP.target,
    registers,
    collect() {
      this.set(insight.view().target);
    },
  });
}
