import { Buffer } from "node:buffer";
import { STATUS_CODES } from "node:http";
import { type Msg, type NatsConnection, nuid } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import { batcherFor, type PublishBatcher } from "../connect/publish-batcher.js";
import { describeInstance, type EndpointCounters } from "../discovery/documents.js";
import { assertMicroId, assertVersion, DEFAULT_VERSION } from "../discovery/names.js";
import { answerDiscovery } from "../discovery/responder.js";
import { createLogger } from "../log/index.js";
import { defaultMetrics, type MeshMetrics } from "../metrics/metrics.js";
import { exposeMetricsOverNats } from "../metrics/nats.js";
import type { ServiceRecorder } from "../metrics/recorder.js";
import {
  assertServiceName,
  ErrorCode,
  encodeFrame,
  encodeResponse,
  FrameKind,
  headerValue,
  MeshHeader,
  readRequest,
  serviceSubject,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import {
  ChunkReader,
  chunkSizeFor,
  DEFAULT_WINDOW,
  declaredLength,
  StreamReceiver,
  StreamSender,
} from "../stream/index.js";
import {
  type ActiveSpan,
  endSpan,
  recordHandlerError,
  runInSpan,
  startServerSpan,
} from "../tracing/index.js";
import { Deadlines } from "../util/deadline-lanes.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { Handler, RequestContext, WireHandler } from "./adapters/types.js";
import { type ServerExchange, STREAM_IDLE_MS } from "./exchange.js";
import { Exchanges } from "./exchanges.js";
import { type HandlerKind, toWireHandler } from "./handler.js";
import { ConcurrencyLimiter } from "./limiter.js";
import { MalformedAnswers } from "./malformed.js";
import { addProvenance } from "./provenance.js";
import { QueueGate } from "./queue-gate.js";

const EMPTY = new Uint8Array(0);

/** Default number of requests one instance handles at once. */
export const DEFAULT_CONCURRENCY = 1024;
/** Default time a handler may take before the instance answers 504 for it (as Node's `requestTimeout`). */
export const DEFAULT_HANDLER_TIMEOUT = 300_000;
/**
 * Malformed messages are logged at most once per this many milliseconds per instance (the next line
 * says how many were not): a flood of garbage must not become a flood of log lines. Every one is
 * still counted (`stats().malformed`, `natsmesh_service_malformed_total`).
 */
export const MALFORMED_LOG_INTERVAL_MS = 1000;

/** Options of {@link serve}. */
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
  /** Calling convention of the handler when the guess is not right (see {@link toWireHandler}). */
  kind?: HandlerKind;
  /**
   * For a Fetch handler: make `globalThis.Response` natsmesh's light Response, which builds no body
   * stream for a string or bytes answer (default true; about a quarter of the instance's CPU per
   * request on Node 20, see docs/ARCHITECTURE.md). It behaves as the real one for every use and
   * `instanceof Response` holds; `false` leaves the global alone.
   */
  overrideGlobalResponse?: boolean;
  /** Instance id reported in provenance headers (default: a random NUID). */
  instance?: string;
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
   * Where the instance records Prometheus metrics, answered on `$NM.METRICS` too (default: the shared
   * `defaultMetrics()` on prom-client's global registry); `false` for none.
   */
  metrics?: MeshMetrics | false;
}

/** Counters of one instance. */
export interface ServiceStats {
  /** Requests answered (including error answers). */
  requests: number;
  /** Answers with status ≥ 500, and malformed messages. */
  errors: number;
  /** The last of those errors (`"500 Internal Server Error"`, `"400 NM_ERR_MALFORMED: ..."`), `""` when none. */
  lastError: string;
  /** Messages that could not be decoded or had no reply subject. */
  malformed: number;
  /** Total time handlers took for the answered requests, in nanoseconds. */
  processingNanos: number;
  /** Requests running now. */
  inFlight: number;
  /** Requests waiting for a concurrency slot. */
  queued: number;
}

/** A running service instance. */
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
   * queue group (no new requests), finishes every accepted request, then closes the connection if
   * `serve` opened it.
   */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves an existing handler over NATS, as one instance of `service` in its queue group.
 *
 * @param handler - a Node `(req, res)` listener (express app, node:http listener, fastify's routing), a
 *   Fetch handler `(Request) => Response`, or an app with a `fetch` method (Hono).
 * @param options - service name, and a connection (`nc`) or connection options.
 * @returns a handle, once the subscription is registered with the server.
 * @throws {@link InvalidServiceError} for a bad service name; RangeError for a `version` that is not
 *   semver, or (with discovery) an `instance` id with a character other than `[A-Za-z0-9_-]`;
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
  if (options.discovery !== false) assertMicroId(id);
  const wire = toWireHandler(handler, options.kind, options.overrideGlobalResponse ?? true);
  const logger = options.logger ?? createLogger();
  const metrics = options.metrics === false ? undefined : (options.metrics ?? defaultMetrics());
  const source = new ConnectionSource(options);
  const { nc, prefix } = await source.get();
  const subject = serviceSubject(prefix, service);
  const queue = options.queue ?? service;
  const instance = new ServiceInstance(wire, nc, source, {
    service,
    subject,
    queue,
    instance: id,
    concurrency: options.concurrency ?? envConcurrency(),
    timeout: options.timeout ?? DEFAULT_HANDLER_TIMEOUT,
    streamIdle: options.streamIdleTimeout ?? STREAM_IDLE_MS,
    logger,
    recorder: metrics?.recorder(service),
  });
  try {
    if (options.discovery !== false) {
      const facts = { service, prefix, subject, queue, instance: id, version, started: instance.started };
      const description = describeInstance({
        ...facts,
        description: options.description ?? "",
        metadata: options.metadata ?? {},
      });
      instance.attach(answerDiscovery(nc, description, () => instance.counters(), logger));
    }
    if (metrics) instance.attach(exposeMetricsOverNats(nc, metrics, { service, instance: id, logger }));
    await nc.flush();
  } catch (err) {
    await instance.stop();
    throw err;
  }
  return instance;
}

/** The 500 answered for a response that does not fit in one message for this caller. */
function tooLarge(size: string, limit: number | undefined): WireResponse {
  return errorResponse(
    500,
    ErrorCode.PayloadTooLarge,
    `response of ${size} bytes exceeds the NATS max_payload of ${limit} bytes`,
  );
}

function envConcurrency(): number {
  const raw = process.env.NATSMESH_CONCURRENCY;
  if (!raw) return DEFAULT_CONCURRENCY;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`NATSMESH_CONCURRENCY: expected an integer ≥ 1, got '${raw}'`);
  return n;
}

interface InstanceSettings {
  service: string;
  subject: string;
  queue: string;
  instance: string;
  concurrency: number;
  timeout: number;
  streamIdle: number;
  logger: Logger;
  recorder: ServiceRecorder | undefined;
}

class ServiceInstance implements ServiceHandle {
  readonly service: string;
  readonly subject: string;
  readonly queue: string;
  readonly instance: string;
  readonly nc: NatsConnection;
  readonly started = new Date();
  readonly #wire: WireHandler;
  readonly #source: ConnectionSource;
  readonly #log: Logger;
  readonly #batcher: PublishBatcher;
  readonly #limiter: ConcurrencyLimiter;
  readonly #gate: QueueGate;
  readonly #ctx: RequestContext;
  readonly #timeout: number;
  readonly #deadlines: Deadlines | undefined;
  readonly #recorder: ServiceRecorder | undefined;
  /** Exchanges that outlive one message: heartbeats, streamed bodies (PROTOCOL.md §8). */
  readonly #exchanges: Exchanges;
  /** The 400 answers to malformed requests, from parts built once. */
  readonly #malformedAnswers: MalformedAnswers;
  /** Discovery and metrics responders, stopped first on stop(). */
  readonly #attached: Array<{ stop(): void }> = [];
  #seq = 0;
  #requests = 0;
  #errors = 0;
  #lastError = "";
  #malformed = 0;
  /** Set for an interval after a malformed message was logged: the next are counted, not logged. */
  #malformedQuiet = false;
  /** Malformed messages not logged since the last line. */
  #malformedUnlogged = 0;
  /** Malformed messages without a reply subject (handled, never answered). */
  #dropped = 0;
  /** Total handler time of answered requests, in milliseconds. */
  #busyMs = 0;
  #stopping: Promise<void> | undefined;

  constructor(wire: WireHandler, nc: NatsConnection, source: ConnectionSource, s: InstanceSettings) {
    this.service = s.service;
    this.subject = s.subject;
    this.queue = s.queue;
    this.instance = s.instance;
    this.nc = nc;
    this.#wire = wire;
    this.#source = source;
    this.#log = s.logger.child({ service: s.service, instance: s.instance });
    this.#batcher = batcherFor(nc);
    this.#limiter = new ConcurrencyLimiter(s.concurrency, (saturated) =>
      saturated ? this.#gate.pause() : this.#gate.resume(),
    );
    this.#timeout = s.timeout;
    this.#deadlines = s.timeout > 0 ? new Deadlines(s.timeout) : undefined;
    this.#recorder = s.recorder;
    this.#malformedAnswers = new MalformedAnswers(s.service, s.instance, nc);
    this.#ctx = {
      service: s.service,
      onError: (err) => {
        recordHandlerError(err);
        this.#log.error({ err }, "handler failed");
      },
    };
    // Exchange messages (heartbeats, streamed heads and chunks) go out at once, not batched: they are
    // few per request, and a batch of large chunks would only grow nats.js's buffer (measured).
    this.#exchanges = new Exchanges(
      nc,
      (subject, data, reply) => {
        try {
          nc.publish(subject, data, reply === undefined ? undefined : { reply });
        } catch (err) {
          this.#log.error({ err }, "could not publish");
        }
      },
      (err) => this.#log.error({ err }, "exchange subscription error"),
      s.streamIdle,
    );
    // A saturated instance steps out of the queue group, so nats-server gives new requests to
    // members with capacity; what was routed here before that still arrives and waits its turn.
    this.#gate = new QueueGate(nc, s.subject, s.queue, (err, msg) => this.#onMessage(err, msg));
  }

  stats(): ServiceStats {
    return {
      requests: this.#requests,
      errors: this.#errors,
      lastError: this.#lastError,
      malformed: this.#malformed,
      processingNanos: Math.round(this.#busyMs * 1e6),
      inFlight: this.#limiter.active,
      queued: this.#limiter.queued,
    };
  }

  /** The endpoint counters of the micro protocol's `$SRV.STATS`. */
  counters(): EndpointCounters {
    return {
      requests: this.#requests + this.#dropped,
      errors: this.#errors,
      lastError: this.#lastError,
      processingNanos: this.#busyMs * 1e6,
    };
  }

  /** Adds a responder that lives as long as the instance and is stopped first by {@link stop}. */
  attach(responder: { stop(): void }): void {
    this.#attached.push(responder);
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #drain(): Promise<void> {
    for (const responder of this.#attached.splice(0)) {
      try {
        responder.stop();
      } catch (err) {
        this.#log.warn({ err }, "could not stop a responder");
      }
    }
    if (!this.nc.isClosed()) {
      await this.#gate.drain().catch((err) => this.#log.warn({ err }, "drain failed"));
    }
    await this.#limiter.idle();
    this.#exchanges.close(new Error("the instance stopped"));
    await this.#batcher.sent();
    if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
    await this.#source.close();
  }

  #onMessage(err: Error | null, msg: Msg): void {
    if (err) {
      this.#log.error({ err }, "subscription error");
      return;
    }
    const reply = msg.reply;
    if (!reply) {
      this.#dropped++;
      this.#countMalformed(msg, "dropped a message without a reply subject");
      return;
    }
    // readRequest returns why a payload is malformed instead of throwing: garbage costs no exception,
    // no error object, and (for a wrong prefix) no string decoding.
    let req: WireRequest | string;
    try {
      req = readRequest(msg.data);
    } catch (e) {
      req = String(e);
    }
    if (typeof req !== "string") {
      const subject = msg.subject;
      const token = subject.slice(subject.lastIndexOf(".") + 1);
      if (req.method.toLowerCase() === token) {
        this.#accept(reply, subject, req);
        return;
      }
      req = `method ${req.method} does not match subject token '${token}'`;
    }
    this.#malformedAnswer(msg, reply, req);
  }

  /**
   * Answers a malformed request 400 `NM_ERR_MALFORMED` (PROTOCOL.md §5), counted as a request and as
   * malformed. The payload comes from {@link MalformedAnswers} and is published at once: it is
   * answered in arrival order, before any request after it.
   */
  #malformedAnswer(msg: Msg, reply: string, why: string): void {
    this.#countMalformed(msg, `400 ${ErrorCode.Malformed}: malformed message: ${why}`);
    this.#requests++;
    try {
      this.nc.publish(reply, this.#malformedAnswers.encode(why, this.#nextRequestId()));
    } catch (err) {
      this.#log.error({ err }, "could not publish the response");
    }
  }

  /** Runs a decoded request whose method matches the subject. */
  #accept(reply: string, subject: string, req: WireRequest): void {
    let ex: ServerExchange | undefined;
    if (req.heartbeat !== undefined || req.streamed) ex = this.#exchanges.open(reply, req.heartbeat ?? 0);
    if (req.streamed) this.#receive(req, ex!, subject);
    const span = startServerSpan(this.service, subject, req);
    this.#limiter.runWithRelease((release) => this.#handle(release, reply, req, span, ex));
  }

  /**
   * A request whose body follows in chunks: the handler reads it as a stream, and credit goes to the
   * caller as it reads (the first grant hands over the exchange's subject: the body comes to this
   * instance only).
   */
  #receive(req: WireRequest, ex: ServerExchange, subject: string): void {
    const receiver = new StreamReceiver({
      window: DEFAULT_WINDOW,
      first: req.body,
      length: declaredLength(req.headers),
      target: { service: this.service, subject },
      grant: (n) => ex.send(encodeFrame(FrameKind.Credit, n), true),
      // The handler stopped reading: no more credit; its answer ends the caller's upload.
      cancel: () => undefined,
    });
    ex.receiver = receiver;
    req.stream = receiver.stream;
    req.body = EMPTY;
  }

  /** Counts and logs a message that is not a request this instance can run. */
  #countMalformed(msg: Msg, reason: string): void {
    this.#malformed++;
    this.#errors++;
    this.#lastError = reason;
    this.#recorder?.countMalformed();
    if (this.#malformedQuiet) {
      this.#malformedUnlogged++;
      return;
    }
    // A timer per interval instead of reading the clock per message (a flood makes this the hot path).
    this.#malformedQuiet = true;
    setTimeout(() => {
      this.#malformedQuiet = false;
    }, MALFORMED_LOG_INTERVAL_MS).unref();
    const unlogged = this.#malformedUnlogged;
    this.#malformedUnlogged = 0;
    this.#log.warn(
      { subject: msg.subject, size: msg.data.byteLength, reason, ...(unlogged > 0 && { unlogged }) },
      "malformed message",
    );
  }

  /**
   * Runs the handler and answers. Past the instance's timeout the instance answers 504 for the
   * handler and frees the slot; the handler's late answer is then dropped. With a SERVER span, the
   * handler runs with it active, so the spans it starts are its children. `release` frees the
   * request's slot once its answer is sent (a streamed one: once its body ended); no promise of its
   * own per request.
   */
  #handle(
    release: () => void,
    reply: string,
    req: WireRequest,
    span: ActiveSpan | undefined,
    ex: ServerExchange | undefined,
  ): void {
    if (ex?.over) {
      // The caller gave up while the request waited for a slot.
      this.#log.debug({ method: req.method, path: req.path }, "caller left before the handler ran");
      release();
      return;
    }
    const done = (sent: number | Promise<number>) => {
      if (typeof sent === "number") release();
      else sent.then(release, release);
    };
    const started = performance.now();
    this.#recorder?.start();
    const deadlines = this.#deadlines;
    const id = deadlines?.add(() => {
      this.#log.warn({ method: req.method, path: req.path, timeout: this.#timeout }, "handler timed out");
      const timeout = errorResponse(
        504,
        ErrorCode.Timeout,
        `the handler did not answer within ${this.#timeout} ms`,
      );
      // The handler's signal aborts (a Node handler's req/res close), then the 504 goes out.
      ex?.abort(new Error(`the handler did not answer within ${this.#timeout} ms`));
      done(this.#finish(reply, timeout, req, started, span, ex));
    });
    let answer: Promise<WireResponse>;
    try {
      answer =
        span === undefined
          ? this.#wire(req, this.#ctx, ex)
          : runInSpan(span, () => this.#wire(req, this.#ctx, ex));
    } catch (err) {
      // A handler adapter that throws instead of rejecting still gets its 500.
      answer = Promise.reject(err);
    }
    answer.then(
      (res) => {
        if (id === undefined || deadlines!.settle(id)) done(this.#finish(reply, res, req, started, span, ex));
        else res.stream?.cancel().catch(() => undefined);
      },
      (err: unknown) => {
        this.#log.error({ err }, "request failed");
        span?.span.recordException(err instanceof Error ? err : String(err));
        if (id === undefined || deadlines!.settle(id))
          done(this.#finish(reply, internalError(), req, started, span, ex));
      },
    );
  }

  /**
   * Answers a request the handler ran for, and accounts for it: time, metrics, span, debug log line.
   * A streamed answer is accounted for when its body ends (the returned promise).
   */
  #finish(
    reply: string,
    res: WireResponse,
    req: WireRequest,
    started: number,
    span: ActiveSpan | undefined,
    ex: ServerExchange | undefined,
  ): number | Promise<number> {
    const sent = this.#respond(reply, res, req, ex);
    if (typeof sent === "number") {
      this.#account(res, req, started, span, sent);
      return sent;
    }
    return sent.then((status) => {
      this.#account(res, req, started, span, status);
      return status;
    });
  }

  #account(
    res: WireResponse,
    req: WireRequest,
    started: number,
    span: ActiveSpan | undefined,
    status: number,
  ): void {
    const ms = performance.now() - started;
    this.#busyMs += ms;
    if (span !== undefined) {
      const code =
        status === res.status ? headerValue(res.headers, MeshHeader.Error) : ErrorCode.PayloadTooLarge;
      endSpan(span.span, status, code);
    }
    this.#recorder?.finish(req.method, status, ms / 1000);
    if (this.#log.isLevelEnabled("debug")) {
      this.#log.debug(
        {
          method: req.method,
          path: req.path,
          status,
          ms: Math.round(ms * 1000) / 1000,
          requestId: headerValue(res.headers, MeshHeader.RequestId),
        },
        "request",
      );
    }
  }

  /** Adds the provenance headers (PROTOCOL.md §6) to an answer. */
  #provenance(headers: string[], requestHeaders: string[]): void {
    addProvenance(headers, requestHeaders, this.#nextRequestId, this.service, this.instance, this.nc);
  }

  /** An answer natsmesh itself produced instead of the handler's, with its provenance. */
  #own(res: WireResponse, requestHeaders: string[]): WireResponse {
    this.#provenance(res.headers, requestHeaders);
    return res;
  }

  /** Generates a request id for a caller that sent none: the instance id and a counter. */
  readonly #nextRequestId = (): string => `${this.instance}-${++this.#seq}`;

  /**
   * Answers a request: counts it, adds provenance, and sends the answer in one message, or streamed
   * when its body is a stream or too large for one message and the caller accepts streams. Returns
   * the status sent, or a promise of it for an answer that goes through the streamed path.
   */
  #respond(
    reply: string,
    res: WireResponse,
    req: WireRequest,
    ex: ServerExchange | undefined,
  ): number | Promise<number> {
    this.#requests++;
    this.#provenance(res.headers, req.headers);
    if (req.method === "HEAD" || res.status === 204 || res.status === 304) {
      res.stream?.cancel().catch(() => undefined);
      res.stream = undefined;
    }
    const limit = this.nc.info?.max_payload;
    if (res.stream !== undefined) return this.#respondStreamed(reply, res, req, ex, limit);
    const payload = encodeResponse(res);
    if (limit !== undefined && payload.byteLength > limit && req.window !== undefined) {
      return this.#respondStreamed(reply, res, req, ex, limit);
    }
    ex?.close();
    return this.#sendOne(reply, res, req.headers, payload);
  }

  /**
   * Publishes an answer (provenance already added) as one message; one over max_payload becomes a
   * 500 that says so. Returns the status sent.
   */
  #sendOne(
    reply: string,
    res: WireResponse,
    requestHeaders: string[] = [],
    payload = encodeResponse(res),
  ): number {
    const limit = this.nc.info?.max_payload;
    if (limit !== undefined && payload.byteLength > limit) {
      this.#log.error({ size: payload.byteLength, limit }, "response exceeds max_payload");
      res = this.#own(tooLarge(`${payload.byteLength}`, limit), requestHeaders);
      payload = encodeResponse(res);
    }
    if (res.status >= 500) {
      const code = headerValue(res.headers, MeshHeader.Error);
      this.#countError(`${res.status} ${code ?? (res.statusText || STATUS_CODES[res.status] || "error")}`);
    }
    this.#batcher.publish(reply, payload, undefined, (err) =>
      this.#log.error({ err }, "could not publish the response"),
    );
    return res.status;
  }

  /**
   * Sends an answer whose body is a stream, or bytes too large for one message. What the source has
   * ready at once goes with the head; when that is the whole body and it fits, the answer is one
   * plain message. Otherwise, for a caller that accepts streamed responses (`mesh-window`), the head
   * hands over the exchange's subject and chunks follow as the caller grants credit; for one that
   * does not, the body is collected up to max_payload (beyond it, a 500 that says so).
   */
  async #respondStreamed(
    reply: string,
    res: WireResponse,
    req: WireRequest,
    ex: ServerExchange | undefined,
    limit: number | undefined,
  ): Promise<number> {
    const reader = new ChunkReader(res.stream ?? res.body);
    const headSize = encodeResponse({ ...res, body: EMPTY, stream: undefined }).byteLength;
    const room = (limit ?? Number.MAX_SAFE_INTEGER) - headSize;
    const chunkSize = chunkSizeFor(limit);
    const window = req.window;
    let first: Uint8Array;
    try {
      first =
        window === undefined
          ? await this.#collect(reader, Math.max(0, room) + 1)
          : ((await reader.next(Math.max(1, Math.min(chunkSize, room)))) ?? EMPTY);
    } catch (err) {
      this.#log.error({ err }, "the handler's response body failed");
      ex?.close();
      return this.#sendOne(reply, this.#own(internalError(), req.headers));
    }
    if (reader.ended && first.byteLength <= room) {
      ex?.close();
      return this.#sendOne(reply, { ...res, body: first, stream: undefined }, req.headers);
    }
    if (window === undefined || room <= 0) {
      reader.cancel();
      ex?.close();
      const size = window === undefined ? `more than ${first.byteLength - 1}` : `${headSize}`;
      this.#log.error({ size, limit }, "response exceeds max_payload");
      return this.#sendOne(reply, this.#own(tooLarge(size, limit), req.headers));
    }
    const exchange = ex ?? this.#exchanges.open(reply, req.heartbeat ?? 0);
    exchange.send(encodeResponse({ ...res, body: first }, true), true);
    const sender = new StreamSender({ reader, chunkSize, credit: window, send: (f) => exchange.send(f) });
    exchange.sender = sender;
    try {
      await sender.done;
    } catch (err) {
      this.#log.error({ err }, "the handler's response body failed mid-stream");
      this.#countError("500 NM_ERR_HANDLER: body failed mid-stream");
      exchange.abort(new Error("the handler's response body failed"), true);
    }
    exchange.close();
    return res.status;
  }

  /** Reads the whole body up to `max` bytes (a caller that takes one message only). */
  async #collect(reader: ChunkReader, max: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const piece = await reader.next(Math.min(1 << 20, max - size));
      if (piece === null) break;
      parts.push(piece);
      size += piece.byteLength;
      if (size >= max) break;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  #countError(reason: string): void {
    this.#errors++;
    this.#lastError = reason;
  }
}
