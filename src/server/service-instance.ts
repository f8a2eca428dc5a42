import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { ConnectionSource } from "../connect/index.js";
import { batcherFor, type PublishBatcher } from "../connect/publish-batcher.js";
import type { EndpointCounters } from "../discovery/documents.js";
import type { InstanceGauges } from "../insight/reporter.js";
import type { ServiceRecorder } from "../metrics/recorder.js";
import type { AccessRecords } from "./access-records.js";
import type { WireHandler } from "./adapters/types.js";
import { Answerer } from "./answer.js";
import { Intake } from "./intake.js";
import { DEFAULT_LAG_RECOVER, LagMonitor } from "./lag-monitor.js";
import { ConcurrencyLimiter } from "./limiter.js";
import { OpenExchanges } from "./open-exchanges.js";
import { QueueGate } from "./queue-gate.js";
import { Responder } from "./respond.js";
import { InstanceStats, type ServiceStats } from "./stats.js";

/**
 * A running service instance.
 *
 * @example
 * ```ts
 * const svc = await serve(app, { service: "orders" });
 * console.log(svc.instance, svc.subject, svc.stats().requests);
 * process.once("SIGTERM", () => void svc.stop({ timeout: 25_000 }));
 * ```
 */
export interface ServiceHandle {
  /** Service name. */
  readonly service: string;
  /** Subject the instance listens on, e.g. `mesh.weather.*`. */
  readonly subject: string;
  /** Queue group. */
  readonly queue: string;
  /** Instance id (provenance header `mesh-instance`). */
  readonly instance: string;
  /** The connection in use. */
  readonly nc: NatsConnection;
  /** When the instance started serving. */
  readonly started: Date;
  /** A snapshot of the instance's counters. */
  stats(): ServiceStats;
  /**
   * Drains: stops answering discovery (`$SRV.*`) and metrics (`$NM.METRICS`) requests, leaves the
   * queue group (no new requests), finishes every accepted request — by `options.timeout` (default
   * 25 000 ms), past which their callers get 503 `NM_ERR_INSTANCE_LOST` — then closes the connection
   * if `serve` opened it. A second call returns the first call's promise.
   */
  stop(options?: StopOptions): Promise<void>;
  /** `stop()` with the default timeout, for `await using svc = await serve(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Options of {@link ServiceHandle.stop}.
 *
 * @example
 * ```ts
 * await svc.stop({ timeout: 10_000 }); // let running requests finish for up to 10 s
 * ```
 */
export interface StopOptions {
  /**
   * Milliseconds accepted requests may take to finish (default 25 000, which
   * fits a 30 s SIGTERM grace period). At the deadline, the callers of handlers still running (and
   * of requests still waiting for a slot) are answered 503 `NM_ERR_INSTANCE_LOST` — safe to retry on
   * another instance when idempotent — their handlers' signals abort, and `stop()` goes on closing.
   */
  timeout?: number;
}

/** Default of {@link StopOptions.timeout}: within a typical 30 s SIGTERM grace period (Kubernetes). */
export const DEFAULT_STOP_TIMEOUT = 25_000;

/** What {@link serve} settled for an instance. */
export interface InstanceSettings {
  /** Service name. */
  service: string;
  /** Subject the instance listens on, `<prefix>.<service>.*`. */
  subject: string;
  /** Queue group. */
  queue: string;
  /** Instance id. */
  instance: string;
  /** Requests handled at once. */
  concurrency: number;
  /** Milliseconds a handler may take; 0 for no limit. */
  timeout: number;
  /** Milliseconds a streamed body may wait on a caller without heartbeats. */
  streamIdle: number;
  /** Milliseconds a handler may run on once its caller gave up, before its slot is freed anyway. */
  cancelGrace: number;
  /** Event-loop lag in ms past which the instance steps out of its queue group; 0 for no watch. */
  lagThreshold: number;
  /** The logger; the instance logs through a child naming the service and instance. */
  logger: Logger;
  /** Prometheus metrics of the service, if any. */
  recorder: ServiceRecorder | undefined;
  /** The instance's access records (PROTOCOL.md §11), when `serve({ accessRecords })` turned them on. */
  records?: AccessRecords | undefined;
  /**
   * Subjects the instance also subscribes to without a queue group (PROTOCOL.md §10): requests named
   * to it (`instance`: `<prefix>.<service>.$I.<id>.*`) and requests to every instance (`every`:
   * `<prefix>.<service>.$ALL.*`, where a request without a reply subject is an event). Absent: neither.
   */
  direct?: { instance: string; every: string } | undefined;
  /** Called once when the instance has stopped: gives back what serve() took for it (the light Response). */
  release?: (() => void) | undefined;
}

/**
 * One instance's lifecycle: it puts the request path together (queue subscription → {@link Intake}
 * → concurrency limit → {@link Answerer} → {@link Responder}), keeps the counters, and drains on
 * {@link stop}.
 */
export class ServiceInstance implements ServiceHandle {
  readonly service: string;
  readonly subject: string;
  readonly queue: string;
  readonly instance: string;
  readonly nc: NatsConnection;
  readonly started = new Date();
  readonly #source: ConnectionSource;
  readonly #log: Logger;
  readonly #batcher: PublishBatcher;
  readonly #limiter: ConcurrencyLimiter;
  readonly #gate: QueueGate;
  readonly #stats = new InstanceStats();
  /** Exchanges that outlive one message: heartbeats, streamed bodies (PROTOCOL.md §8). */
  readonly #exchanges: OpenExchanges;
  /** Discovery and metrics responders, stopped first on stop(). */
  readonly #attached: Array<{ stop(): void }> = [];
  #stopping: Promise<void> | undefined;
  readonly #release: (() => void) | undefined;
  readonly #answerer: Answerer;
  readonly #records: AccessRecords | undefined;
  /** Watches the event loop; the instance steps out of its queue group while it lags. */
  readonly #lag: LagMonitor | undefined;
  /**
   * The subscriptions for requests named to this instance and for every instance: no queue group, and
   * they stay while the instance is saturated or lagging (such a request cannot go elsewhere: it waits
   * for a slot), until stop() drains them.
   */
  readonly #direct: Subscription[] = [];
  #saturated = false;

  constructor(wire: WireHandler, nc: NatsConnection, source: ConnectionSource, s: InstanceSettings) {
    this.service = s.service;
    this.subject = s.subject;
    this.queue = s.queue;
    this.instance = s.instance;
    this.nc = nc;
    this.#source = source;
    this.#release = s.release;
    const log = s.logger.child({ service: s.service, instance: s.instance });
    this.#log = log;
    this.#batcher = batcherFor(nc);
    this.#limiter = new ConcurrencyLimiter(s.concurrency, (saturated) => {
      this.#saturated = saturated;
      this.#steer();
    });
    this.#lag =
      s.lagThreshold > 0
        ? new LagMonitor({ threshold: s.lagThreshold, recover: DEFAULT_LAG_RECOVER }, (lagging) => {
            if (lagging)
              log.warn({ threshold: s.lagThreshold }, "event loop lagging: leaving the queue group");
            else log.info("event loop recovered: joining the queue group");
            this.#steer();
          })
        : undefined;
    // Exchange messages (heartbeats, streamed heads and chunks) go out at once, not batched: they are
    // few per request, and a batch of large chunks would only grow nats.js's buffer (measured).
    this.#exchanges = new OpenExchanges(
      nc,
      (subject, data, reply) => {
        try {
          nc.publish(subject, data, reply === undefined ? undefined : { reply });
        } catch (err) {
          log.error({ err }, "could not publish");
        }
      },
      (err) => log.error({ err }, "exchange subscription error"),
      s.streamIdle,
      (ex) => this.#answerer.callerGone(ex),
    );
    const stats = this.#stats;
    const responder = new Responder({
      service: s.service,
      instance: s.instance,
      nc,
      batcher: this.#batcher,
      exchanges: this.#exchanges,
      stats,
      log,
    });
    const answerer = new Answerer({
      service: s.service,
      timeout: s.timeout,
      cancelGrace: s.cancelGrace,
      wire,
      responder,
      stats,
      recorder: s.recorder,
      records: s.records,
      log,
    });
    this.#answerer = answerer;
    this.#records = s.records;
    const intake = new Intake({
      service: s.service,
      instance: s.instance,
      nc,
      exchanges: this.#exchanges,
      limiter: this.#limiter,
      answerer,
      nextRequestId: responder.nextRequestId,
      stats,
      recorder: s.recorder,
      log,
      suspect: this.#lag ? (now) => this.#lag!.suspect(now) : undefined,
    });
    // A saturated instance steps out of the queue group, so nats-server gives new requests to
    // members with capacity; what was routed here before that still arrives and waits its turn.
    this.#gate = new QueueGate(nc, s.subject, s.queue, (err, msg) => intake.onMessage(err, msg));
    const direct = s.direct === undefined ? [] : [s.direct.instance, s.direct.every];
    for (const subject of direct) {
      const events = subject === s.direct?.every;
      this.#direct.push(
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err) {
              // Typically a permissions violation: the user may subscribe <prefix>.<service>.* only.
              log.warn(
                { err, subject },
                "cannot subscribe to the instance's direct subject: requests named to this instance or to every instance will not reach it (allow <prefix>.<service>.> to subscribe)",
              );
              return;
            }
            intake.onMessage(null, msg, events);
          },
        }),
      );
    }
  }

  /** Out of the queue group while saturated or lagging; in otherwise. */
  #steer(): void {
    if (this.#saturated || this.#lag?.lagging) this.#gate.pause();
    else this.#gate.resume();
  }

  /** Whether the instance is out of its queue group now (saturated, lagging or stopping). */
  get steppedOut(): boolean {
    return this.#gate.paused;
  }

  stats(): ServiceStats {
    return this.#stats.snapshot(this.#limiter.active, this.#limiter.queued);
  }

  /** The live figures of the instance's insight reports. */
  gauges(): InstanceGauges {
    const s = this.stats();
    return {
      inFlight: s.inFlight,
      queued: s.queued,
      busyMs: s.processingNanos / 1e6,
      cancelled: s.cancelled,
      malformed: s.malformed,
      out: this.#gate.paused,
    };
  }

  /** The endpoint counters of the micro protocol's `$SRV.STATS`. */
  counters(): EndpointCounters {
    return this.#stats.endpoint();
  }

  /**
   * Runs `task` under the instance's concurrency limit, shared with live requests (durable requests
   * use it); `task` calls `release` when done. {@link stop} waits for scheduled tasks.
   */
  schedule(task: (release: () => void) => void): void {
    this.#limiter.runWithRelease(task);
  }

  /** Adds a responder that lives as long as the instance and is stopped first by {@link stop}. */
  attach(responder: { stop(): void }): void {
    this.#attached.push(responder);
  }

  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#drain(options.timeout ?? DEFAULT_STOP_TIMEOUT).finally(this.#release);
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Waits for accepted requests to finish; at the deadline, answers what is left 503 and waits for that. */
  async #finishAccepted(timeout: number): Promise<void> {
    const idle = this.#limiter.idle();
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeout);
      }),
    ]);
    clearTimeout(timer);
    if (!late) return;
    this.#log.warn(
      { timeout, inFlight: this.#limiter.active, queued: this.#limiter.queued },
      "stop deadline passed",
    );
    this.#answerer.stopNow();
    await idle;
  }

  async #drain(timeout: number): Promise<void> {
    this.#lag?.stop();
    for (const responder of this.#attached.splice(0)) {
      try {
        responder.stop();
      } catch (err) {
        this.#log.warn({ err }, "could not stop a responder");
      }
    }
    if (!this.nc.isClosed()) {
      const direct = this.#direct.splice(0).map((sub) => sub.drain().catch(() => undefined));
      await Promise.all([
        this.#gate.drain().catch((err) => this.#log.warn({ err }, "drain failed")),
        ...direct,
      ]);
    }
    await this.#finishAccepted(timeout);
    this.#exchanges.close(new Error("the instance stopped"));
    this.#records?.close();
    await this.#batcher.sent();
    if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
    await this.#source.close();
  }
}
