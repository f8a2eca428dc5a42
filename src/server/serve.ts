import { type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/nats-core";
import { type Logger, pino } from "pino";
import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import {
  assertServiceName,
  decodeRequest,
  ErrorCode,
  encodeResponse,
  headerValue,
  MalformedMessageError,
  MeshError,
  methodToken,
  serviceSubject,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { Handler, RequestContext, WireHandler } from "./adapters/types.js";
import { Deadlines } from "./deadlines.js";
import { type HandlerKind, toWireHandler } from "./handler.js";
import { ConcurrencyLimiter } from "./limiter.js";
import { addProvenance } from "./provenance.js";

/** Default number of requests one instance handles at once. */
export const DEFAULT_CONCURRENCY = 1024;
/** Default time a handler may take before the instance answers 504 for it (as Node's `requestTimeout`). */
export const DEFAULT_HANDLER_TIMEOUT = 300_000;

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
  /** Calling convention of the handler when the guess is not right (see {@link toWireHandler}). */
  kind?: HandlerKind;
  /** Instance id reported in provenance headers (default: a random NUID). */
  instance?: string;
  /** pino logger (default: JSON to stdout at NATSMESH_LOG_LEVEL, else `info`). */
  logger?: Logger;
}

/** Counters of one instance. */
export interface ServiceStats {
  /** Requests answered (including error answers). */
  requests: number;
  /** Answers with status ≥ 500, and malformed messages. */
  errors: number;
  /** Messages that could not be decoded or had no reply subject. */
  malformed: number;
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
  /** A snapshot of the instance's counters. */
  stats(): ServiceStats;
  /**
   * Drains: leaves the queue group (no new requests), finishes every accepted request, then closes
   * the connection if `serve` opened it.
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
 * @throws {@link InvalidServiceError} for a bad service name; `ConnectError` when NATS cannot be reached.
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
  const wire = toWireHandler(handler, options.kind);
  const source = new ConnectionSource(options);
  const { nc, prefix } = await source.get();
  const instance = new ServiceInstance(wire, nc, source, {
    service,
    subject: serviceSubject(prefix, service),
    queue: options.queue ?? service,
    instance: options.instance ?? nuid.next(),
    concurrency: options.concurrency ?? envConcurrency(),
    timeout: options.timeout ?? DEFAULT_HANDLER_TIMEOUT,
    logger: options.logger ?? pino({ name: "natsmesh", level: process.env.NATSMESH_LOG_LEVEL ?? "info" }),
  });
  await nc.flush();
  return instance;
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
  logger: Logger;
}

class ServiceInstance implements ServiceHandle {
  readonly service: string;
  readonly subject: string;
  readonly queue: string;
  readonly instance: string;
  readonly nc: NatsConnection;
  readonly #wire: WireHandler;
  readonly #source: ConnectionSource;
  readonly #log: Logger;
  readonly #limiter: ConcurrencyLimiter;
  readonly #sub: Subscription;
  readonly #ctx: RequestContext;
  readonly #timeout: number;
  readonly #deadlines: Deadlines | undefined;
  #seq = 0;
  #requests = 0;
  #errors = 0;
  #malformed = 0;
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
    this.#limiter = new ConcurrencyLimiter(s.concurrency);
    this.#timeout = s.timeout;
    this.#deadlines = s.timeout > 0 ? new Deadlines(s.timeout) : undefined;
    this.#ctx = {
      service: s.service,
      onError: (err) => this.#log.error({ err }, "handler failed"),
    };
    this.#sub = nc.subscribe(s.subject, {
      queue: s.queue,
      callback: (err, msg) => this.#onMessage(err, msg),
    });
  }

  stats(): ServiceStats {
    return {
      requests: this.#requests,
      errors: this.#errors,
      malformed: this.#malformed,
      inFlight: this.#limiter.active,
      queued: this.#limiter.queued,
    };
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #drain(): Promise<void> {
    if (!this.nc.isClosed()) {
      await this.#sub.drain().catch((err) => this.#log.warn({ err }, "drain failed"));
    }
    await this.#limiter.idle();
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
      this.#malformed++;
      this.#log.warn(
        { subject: msg.subject, size: msg.data.byteLength },
        "dropped a message without a reply subject",
      );
      return;
    }
    let req: WireRequest;
    try {
      req = decodeRequest(msg.data, { service: this.service, subject: msg.subject });
      const token = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      if (methodToken(req.method) !== token) {
        throw new MalformedMessageError(`method ${req.method} does not match subject token '${token}'`);
      }
      const length = headerValue(req.headers, "content-length");
      if (length !== undefined && length !== String(req.body.byteLength)) {
        throw new MalformedMessageError(
          `content-length ${length} does not match a body of ${req.body.byteLength} bytes`,
        );
      }
    } catch (e) {
      this.#malformed++;
      const error = e instanceof MeshError ? e : new MalformedMessageError(String(e));
      this.#log.warn(
        { subject: msg.subject, size: msg.data.byteLength, reason: error.message },
        "malformed request",
      );
      this.#respond(reply, errorResponse(400, error.code, error.message), []);
      return;
    }
    this.#limiter.run(() => this.#handle(reply, req));
  }

  /**
   * Runs the handler and answers. Past the instance's timeout the instance answers 504 for the
   * handler and frees the slot; the handler's late answer is then dropped.
   */
  #handle(reply: string, req: WireRequest): Promise<void> {
    return new Promise<void>((resolve) => {
      const deadlines = this.#deadlines;
      const id = deadlines?.add(() => {
        this.#log.warn({ method: req.method, path: req.path, timeout: this.#timeout }, "handler timed out");
        this.#respond(
          reply,
          errorResponse(504, ErrorCode.Timeout, `the handler did not answer within ${this.#timeout} ms`),
          req.headers,
        );
        resolve();
      });
      this.#wire(req, this.#ctx).then(
        (res) => {
          if (id === undefined || deadlines!.settle(id)) this.#respond(reply, res, req.headers);
          resolve();
        },
        (err: unknown) => {
          this.#log.error({ err }, "request failed");
          if (id === undefined || deadlines!.settle(id)) this.#respond(reply, internalError(), req.headers);
          resolve();
        },
      );
    });
  }

  #respond(reply: string, res: WireResponse, requestHeaders: string[]): void {
    this.#requests++;
    if (res.status >= 500) this.#errors++;
    addProvenance(
      res.headers,
      requestHeaders,
      () => `${this.instance}-${++this.#seq}`,
      this.service,
      this.instance,
      this.nc,
    );
    let payload = encodeResponse(res);
    const limit = this.nc.info?.max_payload;
    if (limit !== undefined && payload.byteLength > limit) {
      this.#log.error({ size: payload.byteLength, limit }, "response exceeds max_payload");
      const tooLarge = errorResponse(
        500,
        ErrorCode.PayloadTooLarge,
        `response of ${payload.byteLength} bytes exceeds the NATS max_payload of ${limit} bytes`,
      );
      addProvenance(
        tooLarge.headers,
        requestHeaders,
        () => `${this.instance}-${++this.#seq}`,
        this.service,
        this.instance,
        this.nc,
      );
      payload = encodeResponse(tooLarge);
    }
    try {
      this.nc.publish(reply, payload);
    } catch (err) {
      this.#log.error({ err }, "could not publish the response");
    }
  }
}
