import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { ServiceRecorder } from "../metrics/recorder.js";
import { ErrorCode, encodeFrame, FrameKind, readRequest, type WireRequest } from "../protocol/index.js";
import { DEFAULT_WINDOW, declaredLength, StreamReceiver } from "../stream/index.js";
import { startServerSpan } from "../tracing/index.js";
import type { Answerer } from "./answer.js";
import type { ServerExchange } from "./exchange.js";
import { CallState, type InFlight } from "./in-flight.js";
import type { ConcurrencyLimiter } from "./limiter.js";
import { MalformedAnswers } from "./malformed.js";
import type { OpenExchanges } from "./open-exchanges.js";
import type { InstanceStats } from "./stats.js";

const EMPTY = new Uint8Array(0);

/** Placeholder of {@link InFlight.release} until the handler starts. */
const NOT_STARTED = (): void => undefined;

/**
 * Malformed messages are logged at most once per this many milliseconds per instance (the next line
 * says how many were not): a flood of garbage must not become a flood of log lines. Every one is
 * still counted (`stats().malformed`, `natsmesh_service_malformed_total`).
 */
export const MALFORMED_LOG_INTERVAL_MS = 1000;

/** What an {@link Intake} reads from and hands requests to. */
export interface IntakeParts {
  /** Service name (spans, streamed-body errors, the 400 answer's provenance). */
  service: string;
  /** Instance id (the 400 answer's provenance). */
  instance: string;
  /** The connection the 400 answers go out on. */
  nc: NatsConnection;
  /** Opens an exchange for a request that asks for heartbeats or streams its body. */
  exchanges: OpenExchanges;
  /** Queues accepted requests behind the instance's concurrency limit. */
  limiter: ConcurrencyLimiter;
  /** Runs the handler for accepted requests. */
  answerer: Answerer;
  /** Generates a request id for the 400 answer to a malformed request. */
  nextRequestId: () => string;
  /** Counts malformed and dropped messages and 400 answers. */
  stats: InstanceStats;
  /** Prometheus metrics of the service, if any. */
  recorder: ServiceRecorder | undefined;
  /** The instance's logger. */
  log: Logger;
  /**
   * Whether a request arriving now may have waited through a stall of the instance (its loop lagged
   * or the process was paused): such a request, from a caller with heartbeats, runs only once that
   * caller confirms it is still there. Absent: never.
   */
  suspect?: ((now: number) => boolean) | undefined;
}

/**
 * An instance's intake of messages from its queue subscription: decodes each, checks its method
 * against the subject, and queues it behind the concurrency limit for the {@link Answerer}. A
 * malformed message is counted, logged (throttled) and answered 400, or dropped when it has no reply
 * subject.
 */
export class Intake {
  readonly #service: string;
  readonly #nc: NatsConnection;
  readonly #exchanges: OpenExchanges;
  readonly #limiter: ConcurrencyLimiter;
  readonly #answerer: Answerer;
  readonly #nextRequestId: () => string;
  readonly #stats: InstanceStats;
  readonly #recorder: ServiceRecorder | undefined;
  readonly #log: Logger;
  readonly #suspect: ((now: number) => boolean) | undefined;
  /** The 400 answers to malformed requests, from parts built once. */
  readonly #malformedAnswers: MalformedAnswers;
  /** Set for an interval after a malformed message was logged: the next are counted, not logged. */
  #malformedQuiet = false;
  /** Malformed messages not logged since the last line. */
  #malformedUnlogged = 0;

  constructor(parts: IntakeParts) {
    this.#service = parts.service;
    this.#nc = parts.nc;
    this.#exchanges = parts.exchanges;
    this.#limiter = parts.limiter;
    this.#answerer = parts.answerer;
    this.#nextRequestId = parts.nextRequestId;
    this.#stats = parts.stats;
    this.#recorder = parts.recorder;
    this.#log = parts.log;
    this.#suspect = parts.suspect;
    this.#malformedAnswers = new MalformedAnswers(parts.service, parts.instance, parts.nc);
  }

  /**
   * Takes one message of the queue subscription (its callback), or of a direct one (PROTOCOL.md §10).
   *
   * @param events - the message came on the every-instance subject, where a request without a reply
   *   subject is an event: it runs, and its answer goes nowhere.
   */
  onMessage(err: Error | null, msg: Msg, events = false): void {
    if (err) {
      this.#log.error({ err }, "subscription error");
      return;
    }
    const reply = msg.reply;
    if (!reply && events) {
      this.#event(msg);
      return;
    }
    if (!reply) {
      this.#stats.dropped();
      this.#countMalformed(msg, "dropped a message without a reply subject");
      return;
    }
    const req = requestOnSubject(msg);
    if (typeof req === "string") this.#malformedAnswer(msg, reply, req);
    else this.#accept(reply, msg.subject, req);
  }

  /**
   * An event (PROTOCOL.md §10): a request to every instance without a reply subject runs like any
   * request and its answer is dropped. One that is malformed, or asks for heartbeats or streams its
   * body (which need a caller to talk to), is counted and dropped.
   */
  #event(msg: Msg): void {
    let req = requestOnSubject(msg);
    if (typeof req !== "string") {
      if (req.heartbeat === undefined && req.window === undefined && !req.streamed) {
        this.#accept("", msg.subject, req);
        return;
      }
      req = "an event (no reply subject) cannot ask for heartbeats or streamed bodies";
    }
    this.#stats.dropped();
    this.#countMalformed(msg, `dropped a malformed event: ${req}`);
  }

  /**
   * Answers a malformed request 400 `NM_ERR_MALFORMED` (PROTOCOL.md §5), counted as a request and as
   * malformed. The payload comes from {@link MalformedAnswers} and is published at once: it is
   * answered in arrival order, before any request after it.
   */
  #malformedAnswer(msg: Msg, reply: string, why: string): void {
    this.#countMalformed(msg, `400 ${ErrorCode.Malformed}: malformed message: ${why}`);
    this.#stats.answered();
    try {
      this.#nc.publish(reply, this.#malformedAnswers.encode(why, this.#nextRequestId()));
    } catch (err) {
      this.#log.error({ err }, "could not publish the response");
    }
  }

  /** Queues a decoded request whose method matches the subject, as one {@link InFlight} record. */
  #accept(reply: string, subject: string, req: WireRequest): void {
    let ex: ServerExchange | undefined;
    if (req.heartbeat !== undefined || req.streamed) ex = this.#exchanges.open(reply, req.heartbeat ?? 0);
    if (req.streamed) this.#receive(req, ex!, subject);
    const call: InFlight = {
      reply,
      subject,
      req,
      ex,
      span: startServerSpan(this.#service, subject, req),
      release: NOT_STARTED,
      started: 0,
      deadline: undefined,
      state: CallState.Queued,
      cancelled: false,
    };
    const run = () => this.#limiter.runWithRelease((release) => this.#answerer.run(call, release));
    if (ex === undefined) {
      run();
      return;
    }
    ex.call = call;
    if (req.heartbeat !== undefined) {
      // After a stall the caller may have given up and sent the request elsewhere: it runs only once
      // the caller answers the acknowledgement (PROTOCOL.md §8.4).
      if (this.#suspect?.(performance.now())) {
        ex.hold(run);
        return;
      }
      this.#exchanges.acknowledge(ex);
    }
    run();
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
      target: { service: this.#service, subject },
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
    this.#stats.malformed(reason);
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
}

/**
 * Decodes a request message and checks that its method is its subject's last token. `readRequest`
 * returns why a payload is malformed instead of throwing: garbage costs no exception, no error
 * object, and (for a wrong prefix) no string decoding.
 *
 * @returns the request, or why it is malformed
 */
function requestOnSubject(msg: Msg): WireRequest | string {
  let req: WireRequest | string;
  try {
    req = readRequest(msg.data);
  } catch (e) {
    return String(e);
  }
  if (typeof req === "string") return req;
  const subject = msg.subject;
  const token = subject.slice(subject.lastIndexOf(".") + 1);
  return req.method.toLowerCase() === token
    ? req
    : `method ${req.method} does not match subject token '${token}'`;
}
