import { nuid } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import { DedupeStore } from "../dedupe/index.js";
import { describeInstance } from "../discovery/documents.js";
import { assertMicroId, assertVersion, DEFAULT_VERSION } from "../discovery/names.js";
import { answerDiscovery } from "../discovery/responder.js";
import { type DurableOptions, DurableStore, durableSettings } from "../durable/index.js";
import { InstanceRecorder } from "../insight/instance-recorder.js";
import { DEFAULT_REPORT_INTERVAL } from "../insight/report.js";
import { startReporter } from "../insight/reporter.js";
import { createLogger } from "../log/index.js";
import { DEFAULT_BUCKETS, defaultMetrics, type MeshMetrics } from "../metrics/metrics.js";
import { exposeMetricsOverNats } from "../metrics/nats.js";
import {
  assertServiceName,
  everySubject,
  instanceSubject,
  serviceSubject,
  tapSubject,
} from "../protocol/index.js";
import { type AccessRecordOptions, AccessRecords, DEFAULT_RECORD_BUFFER } from "./access-records.js";
import { acquireLightResponse } from "./adapters/light-response.js";
import type { Handler } from "./adapters/types.js";
import { DEDUPE_DEFAULTS, type DedupeOptions, deduplicate } from "./dedupe.js";
import { startDurable } from "./durable-start.js";
import { STREAM_IDLE_MS } from "./exchange.js";
import { type HandlerKind, handlerKind, toWireHandler, whenReady } from "./handler.js";
import { DEFAULT_LAG_THRESHOLD } from "./lag-monitor.js";
import { type ServiceHandle, ServiceInstance } from "./service-instance.js";

/** Default number of requests one instance handles at once. */
export const DEFAULT_CONCURRENCY = 1024;
/** Default time a handler may take before the instance answers 504 for it (as Node's `requestTimeout`). */
export const DEFAULT_HANDLER_TIMEOUT = 300_000;

/** Default of {@link ServeOptions.cancelGrace}: how long a handler may outlive its caller. */
export const DEFAULT_CANCEL_GRACE = 5000;

/**
 * Options of {@link serve}.
 *
 * @example
 * ```ts
 * const svc = await serve(app, {
 *   service: "orders",
 *   version: "1.4.0",
 *   concurrency: 64, // requests run at once by this instance
 *   timeout: 10_000, // ms a handler may take before the caller gets 504
 *   dedupe: { ttl: 24 * 3_600_000 }, // Idempotency-Key answers kept a day
 *   accessRecords: true,
 * });
 * ```
 */
export interface ServeOptions extends ConnectionSourceOptions {
  /** Service name: `[a-z0-9_-]` tokens separated by dots, e.g. `weather`. */
  service: string;
  /** Queue group (default: the service name), so every instance shares the load. */
  queue?: string;
  /** Requests handled at once by this instance (default NATSMESH_CONCURRENCY, else 1024); more wait. */
  concurrency?: number;
  /**
   * Milliseconds a handler may take (default 300 000; 0 for no limit). Past it the instance answers
   * 504 `NM_ERR_TIMEOUT` and frees the request's concurrency slot; the handler's late answer is dropped.
   */
  timeout?: number;
  /**
   * Milliseconds a streamed body may wait on a caller that asked for no heartbeat — no chunk of its
   * upload, no credit for the answer — before the instance gives the exchange up and frees the slot
   * (default 30 000). Callers with a heartbeat are given up after twice it.
   */
  streamIdleTimeout?: number;
  /**
   * Milliseconds a handler may run on once its caller gave up (its timeout or abort reached the
   * instance; the handler's `request.signal` aborted, a Node `req` emitted 'aborted' and 'close'),
   * before the instance frees its concurrency slot anyway (default 5000). Its late answer is dropped;
   * either way the request counts as cancelled (status 499), not as an error.
   */
  cancelGrace?: number;
  /**
   * Milliseconds of event-loop lag past which the instance steps out of its queue group until its
   * loop has run on time for a second (default 500, twice in a row; 0 turns the watch off). Meanwhile new requests go
   * to the other instances; a request that arrives while the loop lags, from a caller that asked for
   * heartbeats, runs only once that caller confirms it is still there (PROTOCOL.md §8.4).
   */
  lagThreshold?: number;
  /** Calling convention of the handler when the guess is not right (by default a function of one argument is a Fetch handler, of two or more a Node listener). */
  kind?: HandlerKind;
  /**
   * For a Fetch handler: make `globalThis.Response` natsmesh's light Response while this instance
   * runs (default false: no global is replaced). The light Response builds no body stream for a
   * string or bytes answer, nor for `Response.json()` (on Node 20 that stream is the largest single
   * cost of an instance: docs/ARCHITECTURE.md, BENCHMARKS.md); it behaves as the real one for every
   * use and `instanceof Response` holds. It is replaced for the whole process, so every
   * `new Response()` builds it; the last instance that asked for it puts the original back when it
   * stops. Without replacing anything, a handler may import the same class instead: natsmesh's
   * `LightResponse`.
   */
  overrideGlobalResponse?: boolean;
  /**
   * Instance id reported in provenance headers (default: a random NUID); `[A-Za-z0-9_-]`, since
   * requests named to the instance carry it as a subject token.
   */
  instance?: string;
  /**
   * Answer requests named to this instance (`<prefix>.<service>.$I.<instance>.<method>`) and
   * requests to every instance (`<prefix>.<service>.$ALL.<method>`), on two subscriptions without a
   * queue group (default true; PROTOCOL.md §10). They run through the same concurrency limit as
   * load-shared requests, and wait for a slot while the instance is saturated.
   */
  direct?: boolean;
  /** pino logger (default: `createLogger()`: JSON to stdout at NATSMESH_LOG_LEVEL, else `info`). */
  logger?: Logger;
  /** Semantic version reported to the NATS micro protocol (default `0.0.0`). */
  version?: string;
  /** Description reported by `$SRV.INFO` (default empty). */
  description?: string;
  /** Metadata reported by `$SRV.PING|INFO|STATS`; natsmesh adds `natsmesh.*` keys. */
  metadata?: Record<string, string>;
  /** Answer the NATS micro protocol's `$SRV.PING|INFO|STATS` (default true). */
  discovery?: boolean;
  /**
   * Deduplicate requests that carry an `Idempotency-Key` (docs/TRAFFIC.md §8): the first execution's
   * answer is kept in a NATS KV bucket (JetStream) and replayed to repeats, on every instance of the
   * service. `true` or an object turns it on (the object's fields override the defaults), `false`
   * off; absent, `NATSMESH_DEDUPE` decides (`1`/`true`/`on`, or `0`/`false`/`off`; default off).
   */
  dedupe?: boolean | DedupeOptions;
  /**
   * Publish a compact access record per answered request to `<prefix>.<service>.$TAP.<instance>`
   * (PROTOCOL.md §11), for `natsmesh tap` and `tap()`: time, method, path without its query, status,
   * duration, instance and request id — never a body or a header value. Records wait in a bounded
   * buffer and leave after each event-loop turn; a full buffer drops and counts them, a request
   * never waits. `true` or an object turns it on, `false` off; absent, `NATSMESH_ACCESS_RECORDS`
   * decides (`1`/`true`/`on`, or `0`/`false`/`off`; default off). The instance's NATS user needs
   * publish permission on `<prefix>.<service>.$TAP.>`.
   */
  accessRecords?: boolean | AccessRecordOptions;
  /**
   * Work durable requests (PROTOCOL.md §13): requests stored in the service's JetStream stream
   * (submitted with `Prefer: respond-async` through the gateway or `createFetch({ durable: true })`) run through the
   * same handler, under the same concurrency limit, and their answers are stored for the status
   * resource. `true` or an object turns it on (the object's fields override the defaults); absent or
   * `false`, off. Without JetStream the instance logs an error naming it, serves live requests, and
   * tries again every 10 s.
   */
  durable?: boolean | DurableOptions;
  /**
   * Where the instance records Prometheus metrics, answered on `$NM.METRICS` too (default: the shared
   * `defaultMetrics()` on prom-client's global registry); `false` for none.
   */
  metrics?: MeshMetrics | false;
  /**
   * Milliseconds between two insight reports of the instance on `$NM.REPORT.<service>.<instance>`
   * (default 1000; 0 for none): the compact counters `natsmesh top`, the dashboard and the capacity
   * signal aggregate (PROTOCOL.md, "Insight reports"). Absent, `NATSMESH_REPORT_INTERVAL` decides.
   */
  reportInterval?: number;
}

/**
 * Serves an existing handler over NATS, as one instance of `service` in its queue group.
 *
 * @param handler - a Node `(req, res)` listener (express app, node:http listener), a Fetch handler
 *   `(Request) => Response`, an app with a `fetch` method (Hono), or a fastify instance (its
 *   `ready()` is awaited, then requests go to its `routing`).
 * @param options - service name, and a connection (`nc`) or connection options.
 * @returns a handle, once the subscription is registered with the server.
 * @throws TypeError for a handler of none of these shapes, saying what to pass;
 *   {@link InvalidServiceError} for a bad service name; RangeError for a `version` that is not
 *   semver, or an `instance` id with a character other than `[A-Za-z0-9_-]`, or a
 *   bad `dedupe` setting or `NATSMESH_DEDUPE` value, or a bad `accessRecords.buffer` or
 *   `NATSMESH_ACCESS_RECORDS` value, or a bad `reportInterval` or
 *   `NATSMESH_REPORT_INTERVAL`;
 *   `ConnectError` when NATS cannot be reached.
 * @example
 * ```ts
 * import express from "express";
 * const app = express().get("/city", (req, res) => res.json({ q: req.query.q }));
 * const svc = await serve(app, { service: "weather" });
 * // ... later
 * await svc.stop();
 * ```
 */
export async function serve(handler: Handler, options: ServeOptions): Promise<ServiceHandle> {
  const service = assertServiceName(options.service);
  const version = assertVersion(options.version ?? DEFAULT_VERSION);
  const id = options.instance ?? nuid.next();
  const dedupe = dedupeSettings(options.dedupe);
  const recordBuffer = recordSettings(options.accessRecords);
  const reportInterval = reportIntervalSetting(options.reportInterval);
  assertMicroId(id);
  const durable =
    options.durable === undefined || options.durable === false
      ? undefined
      : durableSettings(options.durable === true ? {} : options.durable);
  await whenReady(handler);
  const wire = toWireHandler(handler, options.kind);
  const light = options.overrideGlobalResponse === true && handlerKind(handler, options.kind) === "fetch";
  const logger = options.logger ?? createLogger();
  const metrics = options.metrics === false ? undefined : (options.metrics ?? defaultMetrics());
  const source = new ConnectionSource(options);
  const { nc, prefix } = await source.get();
  const subject = serviceSubject(prefix, service);
  const queue = options.queue ?? service;
  const timeout = options.timeout ?? DEFAULT_HANDLER_TIMEOUT;
  const shared = metrics?.recorder(service);
  const recorder = reportInterval > 0 ? new InstanceRecorder(service, DEFAULT_BUCKETS, shared) : shared;
  const concurrency = options.concurrency ?? envConcurrency();
  const handle = dedupe
    ? deduplicate(wire, {
        service,
        instance: id,
        store: new DedupeStore(nc, dedupe, { timeout: dedupe.storeTimeout, retryFor: dedupe.storeRetry }),
        settings: dedupe,
        timeout,
        recorder,
        log: logger.child({ service, instance: id }),
      })
    : wire;
  const direct =
    options.direct === false
      ? undefined
      : { instance: instanceSubject(prefix, service, id), every: everySubject(prefix, service) };
  const instance = new ServiceInstance(handle, nc, source, {
    service,
    subject,
    queue,
    instance: id,
    concurrency,
    timeout,
    streamIdle: options.streamIdleTimeout ?? STREAM_IDLE_MS,
    cancelGrace: options.cancelGrace ?? DEFAULT_CANCEL_GRACE,
    lagThreshold: options.lagThreshold ?? DEFAULT_LAG_THRESHOLD,
    direct,
    logger,
    recorder,
    records:
      recordBuffer === undefined
        ? undefined
        : new AccessRecords(nc, tapSubject(prefix, service, id), {
            service,
            instance: id,
            capacity: recordBuffer,
            recorder,
            log: logger.child({ service, instance: id }),
          }),
    // Last, once nothing above can throw: the instance's stop() gives it back.
    release: light ? acquireLightResponse() : undefined,
  });
  try {
    if (options.discovery !== false) {
      const facts = {
        service,
        prefix,
        subject,
        queue,
        instance: id,
        version,
        started: instance.started,
        direct,
      };
      const description = describeInstance({
        ...facts,
        description: options.description ?? "",
        metadata: options.metadata ?? {},
      });
      instance.attach(answerDiscovery(nc, description, () => instance.counters(), logger));
    }
    if (metrics) instance.attach(exposeMetricsOverNats(nc, metrics, { service, instance: id, logger }));
    if (recorder instanceof InstanceRecorder) {
      instance.attach(
        startReporter(nc, {
          service,
          id,
          version,
          prefix,
          started: instance.started,
          limit: concurrency,
          interval: reportInterval,
          recorder,
          gauges: () => instance.gauges(),
          logger,
        }),
      );
    }
    if (durable) {
      const parts = {
        service,
        instance: id,
        prefix,
        store: new DurableStore(nc, prefix, durable.bucket),
        // Taken ahead of a free slot: never more than the instance runs at once.
        settings: { ...durable, prefetch: Math.min(durable.prefetch, concurrency) },
        wire: handle,
        timeout,
        schedule: (task: (release: () => void) => void) => instance.schedule(task),
        log: logger.child({ service, instance: id }),
      };
      instance.attach(await startDurable(parts));
    }
    await nc.flush();
  } catch (err) {
    await instance.stop();
    throw err;
  }
  return instance;
}

/** The report interval `serve()` runs with: the option, else `NATSMESH_REPORT_INTERVAL`, else the default. */
function reportIntervalSetting(option: number | undefined): number {
  const raw = process.env.NATSMESH_REPORT_INTERVAL;
  const n = option ?? (raw ? Number(raw) : DEFAULT_REPORT_INTERVAL);
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(
      option === undefined
        ? `NATSMESH_REPORT_INTERVAL: expected an integer ≥ 0, got '${raw}'`
        : `reportInterval: expected an integer ≥ 0 (ms), got ${option}`,
    );
  return n;
}

function envConcurrency(): number {
  const raw = process.env.NATSMESH_CONCURRENCY;
  if (!raw) return DEFAULT_CONCURRENCY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`NATSMESH_CONCURRENCY: expected an integer ≥ 1, got '${raw}'`);
  return n;
}

/** The deduplication settings `serve()` runs with, or undefined when it is off. */
function dedupeSettings(option: boolean | DedupeOptions | undefined): Required<DedupeOptions> | undefined {
  const on = option ?? envSwitch("NATSMESH_DEDUPE");
  if (on === false) return undefined;
  const settings = { ...DEDUPE_DEFAULTS, ...(on === true ? {} : on) };
  if (!/^[A-Za-z0-9_-]+$/.test(settings.bucket))
    throw new RangeError(`dedupe.bucket: expected [A-Za-z0-9_-] characters, got '${settings.bucket}'`);
  for (const name of ["ttl", "maxBytes", "replicas", "maxAnswer", "lease", "storeTimeout"] as const) {
    const n = settings[name];
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`dedupe.${name}: expected an integer ≥ 1, got ${n}`);
  }
  for (const name of ["wait", "storeRetry"] as const) {
    const n = settings[name];
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`dedupe.${name}: expected an integer ≥ 0, got ${n}`);
  }
  if (!["reject", "run", "run-unclaimed"].includes(settings.unavailable))
    throw new RangeError(
      `dedupe.unavailable: expected 'reject', 'run' or 'run-unclaimed', got '${String(settings.unavailable)}'`,
    );
  return settings;
}

/** The record buffer's size when access records are on, else undefined. */
function recordSettings(option: boolean | AccessRecordOptions | undefined): number | undefined {
  const on = option ?? envSwitch("NATSMESH_ACCESS_RECORDS");
  if (on === false) return undefined;
  const buffer = (on === true ? undefined : on.buffer) ?? DEFAULT_RECORD_BUFFER;
  if (!Number.isInteger(buffer) || buffer < 1)
    throw new RangeError(`accessRecords.buffer: expected an integer ≥ 1, got ${buffer}`);
  return buffer;
}

function envSwitch(name: string): boolean {
  const raw = (process.env[name] ?? "").trim().toLowerCase();
  if (raw === "" || raw === "0" || raw === "false" || raw === "off") return false;
  if (raw === "1" || raw === "true" || raw === "on") return true;
  throw new RangeError(`${name}: expected 1/true/on or 0/false/off, got '${process.env[name]}'`);
}
