/**
 * The Prometheus metrics of natsmesh services, filled from {@link ServiceRecorder}s when a registry
 * is scraped: the request path only bumps numbers in typed arrays, never prom-client's label hashing.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ServiceRecorder } from "./recorder.js";

/** Names of the metrics natsmesh services export. */
export const METRIC_NAMES = {
  /** Counter `{service, method, status}`: answered requests. */
  requests: "natsmesh_service_requests_total",
  /** Histogram `{service, method}`: handler time in seconds. */
  duration: "natsmesh_service_request_duration_seconds",
  /** Gauge `{service}`: requests running now. */
  inFlight: "natsmesh_service_in_flight",
  /** Counter `{service}`: messages that could not be decoded or had no reply subject. */
  malformed: "natsmesh_service_malformed_total",
  /** Counter `{service, outcome}`: outcomes of deduplication (`serve({ dedupe })`, docs/TRAFFIC.md §8). */
  dedupe: "natsmesh_service_dedupe_total",
  /** Counter `{service}`: access records published (`serve({ accessRecords })`, PROTOCOL.md §11). */
  accessRecords: "natsmesh_service_access_records_total",
  /** Counter `{service}`: access records dropped (buffer full while the connection was down). */
  accessRecordsDropped: "natsmesh_service_access_records_dropped_total",
} as const;

type Recorders = () => Iterable<ServiceRecorder>;
type HistogramData = Awaited<ReturnType<Histogram<string>["get"]>>;

/** Names and help of the request counter and duration histogram that recorders fill. */
export interface RequestMetricNames {
  requests: { name: string; help: string };
  duration: { name: string; help: string };
  /** The recorders' own label names ({@link ServiceRecorder.labels}), before `method` and `status`. */
  labelNames: readonly string[];
}

/**
 * A duration histogram filled from recorders. prom-client's own `observe()` hashes the labels and
 * allocates on every call; this subclass reports the buckets the recorders keep instead.
 */
class RecordedHistogram extends Histogram<string> {
  readonly #recorders: Recorders;
  readonly #name: string;

  constructor(
    registry: Registry,
    recorders: Recorders,
    bounds: readonly number[],
    names: RequestMetricNames,
  ) {
    super({
      name: names.duration.name,
      help: names.duration.help,
      labelNames: [...names.labelNames, "method"],
      buckets: [...bounds],
      registers: [registry],
    });
    this.#recorders = recorders;
    this.#name = names.duration.name;
  }

  override async get(): Promise<HistogramData> {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    const name = this.#name;
    for (const r of this.#recorders()) {
      r.forEachHistogram((method, cumulative, sum, count) => {
        cumulative.forEach((value, i) => {
          values.push({
            labels: { ...r.labels, method, le: r.bounds[i]! },
            value,
            metricName: `${name}_bucket`,
          });
        });
        values.push(
          { labels: { ...r.labels, method, le: "+Inf" }, value: count, metricName: `${name}_bucket` },
          { labels: { ...r.labels, method }, value: sum, metricName: `${name}_sum` },
          { labels: { ...r.labels, method }, value: count, metricName: `${name}_count` },
        );
      });
    }
    const self = this as unknown as Pick<HistogramData, "help" | "type" | "aggregator">;
    return { name, help: self.help, type: self.type, aggregator: self.aggregator, values } as HistogramData;
  }

  /** What `Registry.metrics()` reads when a metric has it; the same values as {@link get}. */
  getForPromString(): Promise<HistogramData> {
    return this.get();
  }
}

/**
 * Registers a request counter `{...labels, method, status}` and a duration histogram
 * `{...labels, method}` in `registry`, filled from `recorders` at scrape time: the request path
 * only bumps numbers in typed arrays.
 *
 * @returns the two metrics (their values come from the recorders; do not update them directly)
 * @throws Error from prom-client when the registry already has a metric of one of these names
 */
export function registerRequestCollectors(
  registry: Registry,
  recorders: Recorders,
  bounds: readonly number[],
  names: RequestMetricNames,
): { requests: Counter<string>; duration: Histogram<string> } {
  const requests = new Counter({
    name: names.requests.name,
    help: names.requests.help,
    labelNames: [...names.labelNames, "method", "status"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders()) {
        r.forEachAnswer((method, status, count) =>
          this.inc({ ...r.labels, method, status: String(status) }, count),
        );
      }
    },
  });
  return { requests, duration: new RecordedHistogram(registry, recorders, bounds, names) };
}

/**
 * Registers natsmesh's service metrics in `registry`, reading `recorders` at scrape time.
 *
 * @param registry - where the metrics go
 * @param recorders - the recorders to report, read on every scrape
 * @param bounds - duration bucket upper bounds, in seconds
 * @throws Error from prom-client when the registry already has a metric of one of these names
 */
export function registerCollectors(
  registry: Registry,
  recorders: Recorders,
  bounds: readonly number[],
): void {
  registerRequestCollectors(registry, recorders, bounds, {
    requests: {
      name: METRIC_NAMES.requests,
      help: "Requests natsmesh services answered, by method and status",
    },
    duration: {
      name: METRIC_NAMES.duration,
      help: "Time natsmesh service handlers took to answer, in seconds",
    },
    labelNames: ["service"],
  });
  new Gauge({
    name: METRIC_NAMES.inFlight,
    help: "Requests natsmesh services are running now",
    labelNames: ["service"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders()) this.set({ service: r.service }, r.inFlight);
    },
  });
  new Counter({
    name: METRIC_NAMES.malformed,
    help: "Messages natsmesh services could not decode or could not answer (no reply subject)",
    labelNames: ["service"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders()) this.inc({ service: r.service }, r.malformed);
    },
  });
  new Counter({
    name: METRIC_NAMES.accessRecords,
    help: "Access records natsmesh services published for taps (serve({ accessRecords }))",
    labelNames: ["service"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders()) if (r.accessRecords > 0) this.inc({ service: r.service }, r.accessRecords);
    },
  });
  new Counter({
    name: METRIC_NAMES.accessRecordsDropped,
    help: "Access records natsmesh services dropped: the buffer was full (connection down) or NATS refused them",
    labelNames: ["service"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders())
        if (r.accessRecords > 0 || r.accessRecordsDropped > 0)
          this.inc({ service: r.service }, r.accessRecordsDropped);
    },
  });
  new Counter({
    name: METRIC_NAMES.dedupe,
    help: "Outcomes of natsmesh services' deduplication of requests with an Idempotency-Key",
    labelNames: ["service", "outcome"],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of recorders())
        r.forEachDedupe((outcome, n) => this.inc({ service: r.service, outcome }, n));
    },
  });
}
