/**
 * The callers' report: what a calling process (a gateway worker, a `createFetch` that opts in) saw
 * that no instance can report — calls, no-responders and timeouts per service — published on
 * `$NM.CALLERS.<caller>` once per interval (PROTOCOL.md §12, "Callers' reports"), and its checks.
 * Counters are cumulative since `started`, like the instances' reports.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { CallerCounts } from "./callers.js";

/**
 * Subject prefix of callers' reports: `$NM.CALLERS.<caller>`.
 *
 * @example
 * ```ts
 * nc.subscribe(`${CALLERS_PREFIX}.>`, { callback: (_err, msg) => console.log(parseCallerReport(msg.string())) });
 * ```
 */
export const CALLERS_PREFIX = "$NM.CALLERS";

/** The subject an aggregator subscribes to: every callers' report. */
export const CALLERS_WILDCARD = `${CALLERS_PREFIX}.>`;

/** Version of the callers' report this module writes and reads. */
export const CALLERS_REPORT_VERSION = 1;

/** Services one callers' report may list at most (more are dropped by the writer, refused by readers). */
export const MAX_CALLER_SERVICES = 1000;

/**
 * Cumulative counters of one service, as one caller saw them.
 *
 * @example
 * ```ts
 * const weather: CalledCounters = { n: 10412, nr: 3, to: 1 };
 * ```
 */
export interface CalledCounters {
  /** Calls made (answered or not). */
  n: number;
  /** Calls that found no instance (no responders). */
  nr: number;
  /** Calls the caller gave up on (its timeout, 504 at a gateway). */
  to: number;
}

/**
 * What one calling process says each interval.
 *
 * @example
 * ```ts
 * const report: CallerReport = {
 *   v: 1, caller: "gw-36QO6L7LP7BBI51OP4EUS3", kind: "gateway", started: "2026-12-07T23:15:08.673Z",
 *   seq: 17, interval: 1000, services: { weather: { n: 10412, nr: 3, to: 1 } },
 * };
 * ```
 */
export interface CallerReport {
  /** Document version: 1 in this release. */
  v: number;
  /** The caller's id (the last token of its subject). */
  caller: string;
  /** What kind of caller: `gateway`, `fetch`, ... (shown, never trusted). */
  kind: string;
  /** When the caller started counting, RFC 3339 (a new value means the counters started again). */
  started: string;
  /** Report number, from 0. */
  seq: number;
  /** Milliseconds until the next report (an aggregator forgets the caller after three missed). */
  interval: number;
  /** Counters per service. */
  services: Record<string, CalledCounters>;
  /** Present and true in the caller's last report, sent when it stops. */
  bye?: boolean;
}

/**
 * Why a message is not a callers' report this version can read.
 *
 * @example
 * ```ts
 * try {
 *   parseCallerReport(msg.string());
 * } catch (err) {
 *   if (err instanceof CallerReportError) console.warn(`not a callers' report: ${err.message}`);
 *   else throw err;
 * }
 * ```
 */
export class CallerReportError extends Error {
  /** `"CallerReportError"`. */
  override readonly name = "CallerReportError";
}

/**
 * The subject of one caller's reports.
 *
 * @param caller - the caller's id (one subject token)
 * @example
 * ```ts
 * callerReportSubject("gw-a1"); // "$NM.CALLERS.gw-a1"
 * ```
 */
export function callerReportSubject(caller: string): string {
  return `${CALLERS_PREFIX}.${caller}`;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x >= 0;
const isText = (x: unknown, max = 256): x is string => typeof x === "string" && x.length <= max;

/**
 * Reads a callers' report from its JSON text and checks every field an aggregator uses.
 *
 * @param text - the message's data
 * @returns the report
 * @throws {@link CallerReportError} for invalid JSON, another version, or a field of the wrong type or size
 * @example
 * ```ts
 * const report = parseCallerReport(msg.string());
 * ```
 */
export function parseCallerReport(text: string): CallerReport {
  let r: Partial<CallerReport>;
  try {
    r = JSON.parse(text) as Partial<CallerReport>;
  } catch {
    throw new CallerReportError("not JSON");
  }
  if (r === null || typeof r !== "object") throw new CallerReportError("not an object");
  if (r.v !== CALLERS_REPORT_VERSION)
    throw new CallerReportError(`version ${String(r.v)} (expected ${CALLERS_REPORT_VERSION})`);
  for (const key of ["caller", "kind", "started"] as const)
    if (!isText(r[key])) throw new CallerReportError(`${key}: expected a string`);
  if (!isCount(r.seq)) throw new CallerReportError("seq: expected a number ≥ 0");
  if (!isCount(r.interval) || r.interval < 1) throw new CallerReportError("interval: expected ≥ 1 ms");
  if (r.services === null || typeof r.services !== "object" || Array.isArray(r.services))
    throw new CallerReportError("services: expected an object");
  const services = Object.entries(r.services);
  if (services.length > MAX_CALLER_SERVICES)
    throw new CallerReportError(`services: more than ${MAX_CALLER_SERVICES}`);
  for (const [name, c] of services) {
    if (!isText(name) || c === null || typeof c !== "object")
      throw new CallerReportError(`services.${name}: expected counters`);
    if (!isCount(c.n) || !isCount(c.nr) || !isCount(c.to))
      throw new CallerReportError(`services.${name}: expected n, nr and to`);
  }
  if (r.bye !== undefined && typeof r.bye !== "boolean")
    throw new CallerReportError("bye: expected a boolean");
  return r as CallerReport;
}

/**
 * What {@link startCallerReporter} needs.
 *
 * @example
 * ```ts
 * const settings: CallerReporterSettings = { caller: "billing-1", kind: "fetch", interval: 5000, counts: () => [] };
 * ```
 */
export interface CallerReporterSettings {
  /** The caller's id: one subject token (e.g. a nuid). */
  caller: string;
  /** What kind of caller (`gateway`, `fetch`). */
  kind: string;
  /** Milliseconds between reports (default 1000). */
  interval?: number;
  /** The cumulative counts now, per service (summed when a service appears twice). */
  counts: () => Iterable<CallerCounts> | Promise<Iterable<CallerCounts>>;
  /** Where a failed publish is logged (a warning); none by default. */
  logger?: Logger;
}

/**
 * A running callers' reporter.
 *
 * @example
 * ```ts
 * const reporter: CallerReporter = startCallerReporter(nc, { caller: "billing-1", kind: "fetch", counts: () => [] });
 * await reporter.stop();
 * ```
 */
export interface CallerReporter {
  /** Stops the reports; publishes a last one marked `bye` (safe to call twice). */
  stop(): Promise<void>;
}

/**
 * Publishes a caller's report on `$NM.CALLERS.<caller>` every `interval` ms (the timer does not keep
 * the process alive), with the counts `counts()` gives, until `stop()`.
 *
 * @param nc - the caller's connection
 * @param settings - the caller's id, kind, interval and counts
 * @returns a handle whose `stop()` ends the reports
 * @throws RangeError for an interval < 1 ms or a caller id that is not one subject token
 * @example
 * ```ts
 * const reporter = startCallerReporter(nc, { caller: nuid.next(), kind: "fetch", counts: () => counts });
 * await reporter.stop();
 * ```
 */
export function startCallerReporter(nc: NatsConnection, settings: CallerReporterSettings): CallerReporter {
  const interval = settings.interval ?? 1000;
  if (!(Number.isFinite(interval) && interval >= 1))
    throw new RangeError(`callers' report interval (ms) must be ≥ 1: got ${interval}`);
  if (!/^[^\s.*>]{1,128}$/.test(settings.caller))
    throw new RangeError(`caller id must be one subject token: got ${JSON.stringify(settings.caller)}`);
  const subject = callerReportSubject(settings.caller);
  const started = new Date().toISOString();
  let seq = 0;
  let sending: Promise<void> = Promise.resolve();
  const send = (bye: boolean): Promise<void> => {
    sending = sending.then(async () => {
      if (nc.isClosed()) return;
      try {
        const services: Record<string, CalledCounters> = {};
        let listed = 0;
        for (const c of await settings.counts()) {
          let s = services[c.service];
          if (!s) {
            if (listed >= MAX_CALLER_SERVICES) continue;
            listed++;
            s = { n: 0, nr: 0, to: 0 };
            services[c.service] = s;
          }
          s.n += c.calls ?? 0;
          s.nr += c.noResponders;
          s.to += c.timeouts;
        }
        const report: CallerReport = {
          v: CALLERS_REPORT_VERSION,
          caller: settings.caller,
          kind: settings.kind,
          started,
          seq: seq++,
          interval,
          services,
        };
        if (bye) report.bye = true;
        if (!nc.isClosed()) nc.publish(subject, JSON.stringify(report));
      } catch (err) {
        settings.logger?.warn({ err }, "could not publish a callers' report");
      }
    });
    return sending;
  };
  const timer = setInterval(() => void send(false), interval);
  timer.unref();
  void send(false);
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      if (!stopped) {
        clearInterval(timer);
        stopped = send(true);
      }
      return stopped;
    },
  };
}
