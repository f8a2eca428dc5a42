/**
 * The insight report: the compact document every instance publishes on `$NM.REPORT.<service>.<id>`
 * once per interval (PROTOCOL.md, "Insight reports"), and its checks. Pure: no I/O.
 *
 * @module
 */

/**
 * Subject prefix of insight reports: `$NM.REPORT.<service>.<instance>`.
 *
 * @example
 * ```ts
 * const sub = nc.subscribe(`${REPORT_PREFIX}.orders.*`); // every instance of "orders"
 * ```
 */
export const REPORT_PREFIX = "$NM.REPORT";

/** The subject an aggregator subscribes to: every report of every service. */
export const REPORT_WILDCARD = `${REPORT_PREFIX}.>`;

/** Version of the report document this module writes and reads. */
export const REPORT_VERSION = 1;

/**
 * Default milliseconds between two reports of an instance (`serve()`'s `reportInterval`).
 *
 * @example
 * ```ts
 * await serve(app, { service: "orders", reportInterval: 5 * DEFAULT_REPORT_INTERVAL });
 * ```
 */
export const DEFAULT_REPORT_INTERVAL = 1000;

/**
 * Counters of one method at one instance, cumulative since the instance started.
 *
 * @example
 * ```ts
 * const get = report.methods.GET;
 * if (get) console.log(`${get.n} answered, ${get.err} errors, ${get.to} timeouts`);
 * ```
 */
export interface MethodCounters {
  /** Requests answered (every status, cancellations included). */
  n: number;
  /** Answers with status ≥ 500. */
  err: number;
  /** Answers 504 (the handler's timeout). */
  to: number;
  /** Answer times per duration bucket (not cumulative): one count per bound of {@link InstanceReport.bounds}, then the overflow. */
  h: number[];
}

/**
 * What one instance says about itself each interval. Counters are cumulative since `started`, so a
 * lost report costs nothing but resolution; the aggregator takes differences.
 *
 * @example
 * ```ts
 * nc.subscribe(`${REPORT_PREFIX}.>`, {
 *   callback: (_err, msg) => {
 *     const r = parseReport(msg.string());
 *     console.log(r.service, r.id, r.inFlight, "/", r.limit, r.out ? "out" : "in");
 *   },
 * });
 * ```
 */
export interface InstanceReport {
  /** Document version: 1 in this release; an aggregator rejects a report of another version. */
  v: number;
  /** natsmesh service name. */
  service: string;
  /** Instance id. */
  id: string;
  /** Semantic version of the service. */
  version: string;
  /** Subject prefix the instance serves under. */
  prefix: string;
  /** When the instance started, RFC 3339. */
  started: string;
  /** Report number, from 0. */
  seq: number;
  /** Milliseconds until the next report (an aggregator forgets the instance after three missed). */
  interval: number;
  /** The NATS server the instance is connected to, and its cluster. */
  server: {
    /** The server's name (its `server_name`). */
    name: string;
    /** Its cluster's name; absent when the server is not in a cluster. */
    cluster?: string;
  };
  /** The concurrency limit. */
  limit: number;
  /** Requests running now. */
  inFlight: number;
  /** Requests waiting for a slot now. */
  queued: number;
  /** Whether the instance is out of its queue group now (saturated, lagging or stopping). */
  out: boolean;
  /** Total handler time of answered requests, in milliseconds (its rate is the mean concurrency). */
  busy: number;
  /** Requests whose caller left before the answer. */
  cancelled: number;
  /** Messages that were not requests the instance could run. */
  malformed: number;
  /** Upper bounds of the duration buckets, in seconds. */
  bounds: number[];
  /** Counters per method (`GET`, `POST`, ..., `OTHER`). */
  methods: Record<string, MethodCounters>;
  /** Present and true in the instance's last report, sent when it stops. */
  bye?: boolean;
}

/**
 * The subject of one instance's reports.
 *
 * @param service - the service name
 * @param id - the instance id
 * @example
 * ```ts
 * reportSubject("weather", "a1"); // "$NM.REPORT.weather.a1"
 * ```
 */
export function reportSubject(service: string, id: string): string {
  return `${REPORT_PREFIX}.${service}.${id}`;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x >= 0;
const isText = (x: unknown, max = 256): x is string => typeof x === "string" && x.length <= max;

/**
 * Why a message is not a report this version can read.
 *
 * @example
 * ```ts
 * try {
 *   parseReport(msg.string());
 * } catch (err) {
 *   if (err instanceof ReportError) console.warn(`not a report: ${err.message}`);
 *   else throw err;
 * }
 * ```
 */
export class ReportError extends Error {
  /** `"ReportError"`. */
  override readonly name = "ReportError";
}

/**
 * Reads a report from its JSON text and checks every field an aggregator uses: a message from a
 * peer is input, not trusted.
 *
 * @param text - the message's data
 * @returns the report
 * @throws {@link ReportError} for invalid JSON, another version, or a field of the wrong type or size
 * @example
 * ```ts
 * const report = parseReport(msg.string());
 * ```
 */
export function parseReport(text: string): InstanceReport {
  let r: Partial<InstanceReport>;
  try {
    r = JSON.parse(text) as Partial<InstanceReport>;
  } catch {
    throw new ReportError("not JSON");
  }
  if (r === null || typeof r !== "object") throw new ReportError("not an object");
  if (r.v !== REPORT_VERSION) throw new ReportError(`version ${String(r.v)} (expected ${REPORT_VERSION})`);
  for (const key of ["service", "id", "version", "prefix", "started"] as const) {
    if (!isText(r[key])) throw new ReportError(`${key}: expected a string`);
  }
  for (const key of [
    "seq",
    "interval",
    "limit",
    "inFlight",
    "queued",
    "busy",
    "cancelled",
    "malformed",
  ] as const) {
    if (!isCount(r[key])) throw new ReportError(`${key}: expected a number ≥ 0`);
  }
  if (r.interval! < 1) throw new ReportError("interval: expected ≥ 1 ms");
  if (r.server === null || typeof r.server !== "object" || !isText(r.server.name))
    throw new ReportError("server: expected { name }");
  if (r.server.cluster !== undefined && !isText(r.server.cluster))
    throw new ReportError("server.cluster: expected a string");
  if (!Array.isArray(r.bounds) || r.bounds.length > 64 || !r.bounds.every(isCount))
    throw new ReportError("bounds: expected up to 64 numbers");
  if (r.methods === null || typeof r.methods !== "object")
    throw new ReportError("methods: expected an object");
  const methods = Object.entries(r.methods);
  if (methods.length > 16) throw new ReportError("methods: more than 16");
  for (const [name, m] of methods) {
    if (!isText(name, 16) || m === null || typeof m !== "object")
      throw new ReportError(`methods.${name}: expected counters`);
    if (!isCount(m.n) || !isCount(m.err) || !isCount(m.to))
      throw new ReportError(`methods.${name}: expected n, err and to`);
    if (!Array.isArray(m.h) || m.h.length !== r.bounds.length + 1 || !m.h.every(isCount))
      throw new ReportError(`methods.${name}.h: expected ${r.bounds.length + 1} counts`);
  }
  if (typeof r.out !== "boolean") throw new ReportError("out: expected a boolean");
  return r as InstanceReport;
}
