/**
 * The metrics of a gateway cluster: each worker's registry summed by prom-client's
 * `AggregatorRegistry`, plus the primary's own `natsmesh_gateway_workers` and
 * `natsmesh_gateway_worker_restarts_total`.
 *
 * @module
 */
import { AggregatorRegistry, Counter, Gauge, Registry } from "prom-client";
import { GATEWAY_SUSPECT_GAUGE } from "../../insight/silent-instances.js";
import { GATEWAY_CIRCUIT_GAUGE } from "../../traffic/breaker-metrics.js";

/**
 * Metrics whose workers' values are not summed: each worker keeps its own circuit breakers, and the
 * cluster reports the most open state any worker is in (0 closed, 1 half-open, 2 open); each worker
 * watches the same reports, and the cluster reports the most suspect instances any worker sees.
 */
const AGGREGATORS: Readonly<Record<string, "max">> = {
  [GATEWAY_CIRCUIT_GAUGE]: "max",
  [GATEWAY_SUSPECT_GAUGE]: "max",
};

/**
 * The primary's metrics and the aggregation of the workers'.
 *
 * @example
 * ```ts
 * const metrics = new ClusterMetrics();
 * metrics.workers.set(2);
 * const text = await metrics.aggregate([await worker1.getMetricsAsJSON(), await worker2.getMetricsAsJSON()]);
 * ```
 */
export class ClusterMetrics {
  /** The primary's own registry. */
  readonly registry = new Registry();
  /** Worker processes listening now. */
  readonly workers: Gauge;
  /** Worker processes started again after one exited unexpectedly. */
  readonly restarts: Counter;

  /**
   * @example
   * ```ts
   * new ClusterMetrics().restarts.inc();
   * ```
   */
  constructor() {
    const registers = [this.registry];
    this.workers = new Gauge({
      name: "natsmesh_gateway_workers",
      help: "Gateway worker processes listening",
      registers,
    });
    this.restarts = new Counter({
      name: "natsmesh_gateway_worker_restarts_total",
      help: "Gateway worker processes started again after one exited unexpectedly",
      registers,
    });
  }

  /** The content type of {@link ClusterMetrics.aggregate}'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The Prometheus text of the workers' metrics summed (histograms bucket by bucket; circuit states
   * by their maximum), with the primary's own.
   *
   * @param workers - each worker's `registry.getMetricsAsJSON()`
   * @returns the Prometheus text format
   * @example
   * ```ts
   * res.end(await metrics.aggregate(parts));
   * ```
   */
  async aggregate(workers: readonly unknown[][]): Promise<string> {
    const parts = [...workers, await this.registry.getMetricsAsJSON()].map((metrics) =>
      metrics.map((m) => {
        const aggregator = AGGREGATORS[(m as { name: string }).name];
        return aggregator ? { ...(m as object), aggregator } : m;
      }),
    );
    return AggregatorRegistry.aggregate(parts).metrics();
  }
}
