/**
 * The instance side of insight: publishes the instance's {@link InstanceReport} every interval, and a
 * last one (`bye`) when it stops, so aggregators drop it at once.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { InstanceRecorder } from "./instance-recorder.js";
import { type InstanceReport, type MethodCounters, REPORT_VERSION, reportSubject } from "./report.js";

/** The instance's live figures the reporter reads at each report. */
export interface InstanceGauges {
  /** Requests running now. */
  inFlight: number;
  /** Requests waiting for a slot. */
  queued: number;
  /** Total handler time of answered requests, ms. */
  busyMs: number;
  /** Requests whose caller left. */
  cancelled: number;
  /** Malformed messages. */
  malformed: number;
  /** Out of the queue group now. */
  out: boolean;
}

/** What {@link startReporter} needs. */
export interface ReporterSettings {
  service: string;
  id: string;
  version: string;
  prefix: string;
  started: Date;
  limit: number;
  /** Milliseconds between reports. */
  interval: number;
  recorder: InstanceRecorder;
  gauges: () => InstanceGauges;
  logger?: Logger;
}

/**
 * Builds the report of an instance now (exported for the benchmark's cost per report).
 *
 * @param nc - the instance's connection (for the server and cluster it is connected to)
 * @param s - the instance's settings
 * @param seq - the report number
 * @returns the report
 */
export function buildReport(nc: NatsConnection, s: ReporterSettings, seq: number): InstanceReport {
  const g = s.gauges();
  const methods: Record<string, MethodCounters> = {};
  const slots = s.recorder.bounds.length + 1;
  s.recorder.forEachAnswer((method, status, count) => {
    let m = methods[method];
    if (!m) {
      m = { n: 0, err: 0, to: 0, h: new Array<number>(slots).fill(0) };
      methods[method] = m;
    }
    m.n += count;
    if (status >= 500) m.err += count;
    if (status === 504) m.to += count;
  });
  s.recorder.forEachHistogram((method, cumulative, _sum, count) => {
    const m = methods[method];
    if (!m) return;
    let previous = 0;
    for (let b = 0; b < cumulative.length; b++) {
      m.h[b] = cumulative[b]! - previous;
      previous = cumulative[b]!;
    }
    m.h[cumulative.length] = count - previous;
  });
  const info = nc.info;
  const server: InstanceReport["server"] = { name: info?.server_name ?? info?.server_id ?? "" };
  if (info?.cluster) server.cluster = info.cluster;
  return {
    v: REPORT_VERSION,
    service: s.service,
    id: s.id,
    version: s.version,
    prefix: s.prefix,
    started: s.started.toISOString(),
    seq,
    interval: s.interval,
    server,
    limit: s.limit,
    inFlight: g.inFlight,
    queued: g.queued,
    out: g.out,
    busy: Math.round(g.busyMs * 1000) / 1000,
    cancelled: g.cancelled,
    malformed: g.malformed,
    bounds: [...s.recorder.bounds],
    methods,
  };
}

/**
 * Publishes the instance's report on `$NM.REPORT.<service>.<id>` every `interval` ms (the timer does
 * not keep the process alive) until `stop()`, which publishes a last report marked `bye`.
 *
 * @param nc - the instance's connection
 * @param settings - the instance, its limit, interval and counters
 * @returns a handle whose `stop()` ends the reports (safe to call twice)
 * @example
 * ```ts
 * const reporter = startReporter(nc, { service: "weather", id: "a1", interval: 1000, ... });
 * reporter.stop();
 * ```
 */
export function startReporter(nc: NatsConnection, settings: ReporterSettings): { stop(): void } {
  const subject = reportSubject(settings.service, settings.id);
  let seq = 0;
  const send = (bye: boolean): void => {
    if (nc.isClosed()) return;
    try {
      const report = buildReport(nc, settings, seq++);
      if (bye) report.bye = true;
      nc.publish(subject, JSON.stringify(report));
    } catch (err) {
      settings.logger?.warn({ err }, "could not publish an insight report");
    }
  };
  const timer = setInterval(() => send(false), settings.interval);
  timer.unref();
  send(false);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      send(true);
    },
  };
}
