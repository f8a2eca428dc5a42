/**
 * `createMetrics()`: the metrics object `serve()` records into, bound to one prom-client registry.
 *
 * @module
 */
import { register as globalRegistry, type Registry } from "prom-client";
import { registerCollectors } from "./collectors.js";
import { ServiceRecorder } from "./recorder.js";

/**
 * Default duration buckets, in seconds: prom-client's defaults plus three sub-5 ms buckets, since a
 * request over NATS often takes well under a millisecond.
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ buckets: [...DEFAULT_BUCKETS, 30, 60] }); // slow handlers too
 * ```
 */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Options of {@link createMetrics}.
 *
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * const metrics = createMetrics({ registry: new Registry(), buckets: [0.005, 0.05, 0.5, 5] });
 * ```
 */
export interface MetricsOptions {
  /** Registry the metrics are registered in (default: prom-client's global `register`). */
  registry?: Registry;
  /** Duration bucket upper bounds in seconds (default {@link DEFAULT_BUCKETS}). */
  buckets?: readonly number[];
}

/**
 * The metrics of natsmesh services, bound to one registry; pass it as `serve()`'s `metrics` option.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * await serve(app, { service: "orders", metrics });
 * console.log(await metrics.text()); // the Prometheus exposition text
 * ```
 */
export interface MeshMetrics {
  /** The registry holding natsmesh's metrics (and whatever else its owner registers). */
  readonly registry: Registry;
  /** Content type of {@link MeshMetrics.text}'s output. */
  readonly contentType: string;
  /**
   * The recorder of one service (created on first use; instances of a service share it).
   *
   * @param service - the service name
   */
  recorder(service: string): ServiceRecorder;
  /** The registry's metrics in the Prometheus text format. */
  text(): Promise<string>;
}

class MeshMetricsImpl implements MeshMetrics {
  readonly registry: Registry;
  readonly #bounds: readonly number[];
  readonly #recorders = new Map<string, ServiceRecorder>();

  constructor(registry: Registry, bounds: readonly number[]) {
    this.registry = registry;
    this.#bounds = bounds;
    registerCollectors(registry, () => this.#recorders.values(), bounds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  recorder(service: string): ServiceRecorder {
    let r = this.#recorders.get(service);
    if (!r) {
      r = new ServiceRecorder(service, this.#bounds);
      this.#recorders.set(service, r);
    }
    return r;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

const byRegistry = new WeakMap<Registry, MeshMetrics>();

function checkBuckets(buckets: readonly number[]): readonly number[] {
  const ok =
    buckets.length > 0 &&
    buckets.every((b, i) => Number.isFinite(b) && b > 0 && (i === 0 || b > buckets[i - 1]!));
  if (!ok)
    throw new RangeError(`buckets must be positive, finite and increasing; got [${buckets.join(", ")}]`);
  return [...buckets];
}

/**
 * Registers natsmesh's service metrics in a prom-client registry and returns the object `serve()`
 * records into. One registry holds one set: calling again with the same registry returns the same
 * object (and ignores `buckets`).
 *
 * Metrics: `natsmesh_service_requests_total{service,method,status}`,
 * `natsmesh_service_request_duration_seconds{service,method}` (histogram),
 * `natsmesh_service_in_flight{service}`, `natsmesh_service_malformed_total{service}`. `method` is an
 * upper-case standard method or `OTHER`; `status` is the numeric status.
 *
 * @param options - registry (default: prom-client's global `register`) and buckets
 * @returns the metrics object
 * @throws RangeError for buckets that are not positive and increasing; prom-client's Error when the
 *   registry already has another metric of one of natsmesh's names
 * @example
 * ```ts
 * import { Registry } from "prom-client";
 * const metrics = createMetrics({ registry: new Registry() });
 * await serve(app, { service: "weather", metrics });
 * console.log(await metrics.text());
 * ```
 */
export function createMetrics({ registry = globalRegistry, buckets }: MetricsOptions = {}): MeshMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = new MeshMetricsImpl(registry, checkBuckets(buckets ?? DEFAULT_BUCKETS));
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

/**
 * The metrics `serve()` uses when given no `metrics` option: {@link createMetrics} on prom-client's
 * global `register`, so an app that already serves `register.metrics()` shows natsmesh's too.
 *
 * @returns the shared metrics object
 * @throws prom-client's Error when the global `register` already has another metric of one of
 *   natsmesh's names (never once a call has succeeded)
 * @example
 * ```ts
 * const text = await defaultMetrics().text();
 * ```
 */
export function defaultMetrics(): MeshMetrics {
  return createMetrics();
}
