import type { Logger } from "pino";
import type { ServiceRecorder } from "../metrics/recorder.js";
import { ErrorCode, headerValue, MeshHeader, type WireResponse } from "../protocol/index.js";
import { endSpan, recordHandlerError, runInSpan } from "../tracing/index.js";
import { Deadlines } from "../util/deadline-lanes.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { RequestContext, WireHandler } from "./adapters/types.js";
import type { InFlight } from "./in-flight.js";
import type { Responder } from "./respond.js";
import type { InstanceStats } from "./stats.js";

/** What an {@link Answerer} runs and reports to. */
export interface AnswererParts {
  /** Service name, given to the handler's adapter. */
  service: string;
  /** Milliseconds a handler may take; 0 for no limit. */
  timeout: number;
  /** The handler, behind its adapter. */
  wire: WireHandler;
  /** Sends the answers. */
  responder: Responder;
  /** Counts handler time. */
  stats: InstanceStats;
  /** Prometheus metrics of the service, if any. */
  recorder: ServiceRecorder | undefined;
  /** The instance's logger. */
  log: Logger;
}

/**
 * Gets each accepted request its answer: runs the handler, answers 504 for it past the instance's
 * timeout and 500 when it fails, has the {@link Responder} send the answer, and accounts for it
 * (time, metrics, span, debug log line).
 */
export class Answerer {
  readonly #wire: WireHandler;
  readonly #responder: Responder;
  readonly #stats: InstanceStats;
  readonly #recorder: ServiceRecorder | undefined;
  readonly #log: Logger;
  readonly #ctx: RequestContext;
  readonly #timeout: number;
  readonly #deadlines: Deadlines | undefined;

  constructor(parts: AnswererParts) {
    this.#wire = parts.wire;
    this.#responder = parts.responder;
    this.#stats = parts.stats;
    this.#recorder = parts.recorder;
    this.#log = parts.log;
    this.#timeout = parts.timeout;
    this.#deadlines = parts.timeout > 0 ? new Deadlines(parts.timeout) : undefined;
    this.#ctx = {
      service: parts.service,
      onError: (err) => {
        recordHandlerError(err);
        this.#log.error({ err }, "handler failed");
      },
    };
  }

  /**
   * Runs the handler and answers. Past the instance's timeout the instance answers 504 for the
   * handler and frees the slot; the handler's late answer is then dropped. With a SERVER span, the
   * handler runs with it active, so the spans it starts are its children. `release` frees the
   * request's slot once its answer is sent (a streamed one: once its body ended); no promise of its
   * own per request.
   */
  run(call: InFlight, release: () => void): void {
    const { req, ex, span } = call;
    if (ex?.over) {
      // The caller gave up while the request waited for a slot.
      this.#log.debug({ method: req.method, path: req.path }, "caller left before the handler ran");
      release();
      return;
    }
    call.release = release;
    call.started = performance.now();
    this.#recorder?.start();
    call.deadline = this.#deadlines?.add(() => this.#expire(call));
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
        if (this.#settle(call)) this.#done(call, this.#finish(call, res));
        else res.stream?.cancel().catch(() => undefined);
      },
      (err: unknown) => {
        this.#log.error({ err }, "request failed");
        span?.span.recordException(err instanceof Error ? err : String(err));
        if (this.#settle(call)) this.#done(call, this.#finish(call, internalError()));
      },
    );
  }

  /** The handler took too long: its signal aborts (a Node handler's req/res close), then the 504 goes out. */
  #expire(call: InFlight): void {
    const { req, ex } = call;
    this.#log.warn({ method: req.method, path: req.path, timeout: this.#timeout }, "handler timed out");
    const timeout = errorResponse(
      504,
      ErrorCode.Timeout,
      `the handler did not answer within ${this.#timeout} ms`,
    );
    ex?.abort(new Error(`the handler did not answer within ${this.#timeout} ms`));
    this.#done(call, this.#finish(call, timeout));
  }

  /** Settles the request's deadline: false when it already expired (the 504 went out). */
  #settle(call: InFlight): boolean {
    return call.deadline === undefined || this.#deadlines!.settle(call.deadline);
  }

  /** Frees the request's slot once its answer is sent. */
  #done(call: InFlight, sent: number | Promise<number>): void {
    if (typeof sent === "number") call.release();
    else sent.then(call.release, call.release);
  }

  /**
   * Answers a request the handler ran for, and accounts for it: time, metrics, span, debug log line.
   * A streamed answer is accounted for when its body ends (the returned promise).
   */
  #finish(call: InFlight, res: WireResponse): number | Promise<number> {
    const sent = this.#responder.respond(call, res);
    if (typeof sent === "number") {
      this.#account(call, res, sent);
      return sent;
    }
    return sent.then((status) => {
      this.#account(call, res, status);
      return status;
    });
  }

  #account(call: InFlight, res: WireResponse, status: number): void {
    const ms = performance.now() - call.started;
    this.#stats.busy(ms);
    const span = call.span;
    if (span !== undefined) {
      const code =
        status === res.status ? headerValue(res.headers, MeshHeader.Error) : ErrorCode.PayloadTooLarge;
      endSpan(span.span, status, code);
    }
    this.#recorder?.finish(call.req.method, status, ms / 1000);
    if (this.#log.isLevelEnabled("debug")) {
      this.#log.debug(
        {
          method: call.req.method,
          path: call.req.path,
          status,
          ms: Math.round(ms * 1000) / 1000,
          requestId: headerValue(res.headers, MeshHeader.RequestId),
        },
        "request",
      );
    }
  }
}
