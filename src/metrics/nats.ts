/**
 * Metrics over NATS: a process's metrics, in the Prometheus text format, answered on
 * `$NM.METRICS` (once per connection and metrics registry) and on `$NM.METRICS.<service>.<instance>`
 * (by that instance). Neither is in a queue group: every process answers `$NM.METRICS`.
 *
 * @module
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { MeshMetrics } from "./metrics.js";

/** Subject every metrics registry in the mesh answers once per connection. */
export const METRICS_SUBJECT = "$NM.METRICS";
/** NATS header of a metrics reply listing the instances (`service/instance`) the text covers. */
export const INSTANCES_HEADER = "Natsmesh-Instances";

/**
 * The subject one instance answers its metrics on: `$NM.METRICS.<service>.<instance>`.
 *
 * @example
 * ```ts
 * metricsSubject("weather", "Q3J..."); // "$NM.METRICS.weather.Q3J..."
 * ```
 */
export function metricsSubject(service: string, instance: string): string {
  return `${METRICS_SUBJECT}.${service}.${instance}`;
}

/** What {@link exposeMetricsOverNats} needs to know of the instance. */
export interface MetricsExposure {
  service: string;
  instance: string;
  /** Where failures to render the metrics are logged. */
  logger?: Logger;
}

interface Shared {
  sub: Subscription;
  instances: Set<string>;
}

const shared = new WeakMap<NatsConnection, Map<MeshMetrics, Shared>>();

function answer(msg: Msg, metrics: MeshMetrics, instances: () => Iterable<string>, log?: Logger): void {
  if (!msg.reply) return;
  metrics.text().then(
    (text) => {
      const h = headers();
      h.set("Content-Type", metrics.contentType);
      h.set(INSTANCES_HEADER, [...instances()].join(", "));
      msg.respond(text, { headers: h });
    },
    (err: unknown) => log?.error({ err }, "could not render metrics"),
  );
}

/**
 * Answers metrics requests for one service instance until the returned `stop()`: on
 * `$NM.METRICS.<service>.<instance>`, and on `$NM.METRICS` through one subscription shared by every
 * instance on the same connection recording into the same `metrics` (so a scraper collecting every
 * answer counts each registry once).
 *
 * @param nc - the instance's connection
 * @param metrics - the metrics the instance records into
 * @param exposure - service, instance and logger
 * @returns a handle whose `stop()` unsubscribes (the shared subscription goes with its last instance)
 * @example
 * ```ts
 * const exposed = exposeMetricsOverNats(nc, createMetrics(), { service: "weather", instance: "a1" });
 * // nats req '$NM.METRICS.weather.a1' ''
 * exposed.stop();
 * ```
 */
export function exposeMetricsOverNats(
  nc: NatsConnection,
  metrics: MeshMetrics,
  { service, instance, logger }: MetricsExposure,
): { stop(): void } {
  const label = `${service}/${instance}`;
  let byMetrics = shared.get(nc);
  if (!byMetrics) {
    byMetrics = new Map();
    shared.set(nc, byMetrics);
  }
  let all = byMetrics.get(metrics);
  if (!all) {
    const instances = new Set<string>();
    const sub = nc.subscribe(METRICS_SUBJECT, {
      callback: (err, msg) => {
        if (!err) answer(msg, metrics, () => instances, logger);
      },
    });
    all = { sub, instances };
    byMetrics.set(metrics, all);
  }
  all.instances.add(label);
  const own = nc.subscribe(metricsSubject(service, instance), {
    callback: (err, msg) => {
      if (!err) answer(msg, metrics, () => [label], logger);
    },
  });
  const entry = all;
  return {
    stop() {
      own.unsubscribe();
      entry.instances.delete(label);
      if (entry.instances.size === 0) {
        entry.sub.unsubscribe();
        byMetrics.delete(metrics);
      }
    },
  };
}
