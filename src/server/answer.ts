import type { Logger } from "pino";
import type { ServiceRecorder } from "../metrics/recorder.js";
import { ErrorCode, headerValue, MeshHeader, type WireResponse } from "../protocol/index.js";
import { endSpan, recordHandlerError, runInSpan } from "../tracing/index.js";
import { Deadlines } from "../util/deadline-lanes.js";
import type { AccessRecords } from "./access-records.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { RequestContext, WireHandler } from "./adapters/types.js";
import type { ServerExchange } from "./exchange.js";
import { CallState, type InFlight } from "./in-flight.js";
import type { Responder } from "./respond.js";
import type { InstanceStats } from "./stats.js";

/** A handler deadline that never comes (setTimeout's largest): the instance has no timeout. */
const NO_TIMEOUT = 2 ** 31 - 1;
/** The status a cancellation is counted under (nginx's "client closed request"). */
export const CANCELLED = 499;

/** The answer to callers whose handler was still running at stop()'s deadline. */
function stoppedAnswer(): WireResponse {
  return errorResponse(503, ErrorCode.InstanceLost, "the instance stopped before the handler answered");
}

/** What an {@link Answerer} runs and reports to. */
export interface AnswererParts {
  /** Service name, given to the handler's adapter. */
  service: string;
  /** Milliseconds a handler may take; 0 for no limit. */
  timeout: number;
  /** Milliseconds a handler may run on once its caller gave up, before its slot is freed anyway. */
  cancelGrace: number;
  /** The handler, behind its adapter. */
  wire: WireHandler;
  /** Sends the answers. */
  responder: Responder;
  /** Counts handler time. */
  stats: InstanceStats;
  /** Prometheus metrics of the service, if any. */
  recorder: ServiceRecorder | undefined;
  /** The instance's access records (`serve({ accessRecords })`), if on. */
  records: AccessRecords | undefined;
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
  readonly #records: AccessRecords | undefined;
  readonly #log: Logger;
  readonly #ctx: RequestContext;
  readonly #timeout: number;
  readonly #cancelGrace: number;
  /** Every running handler's deadline: the instance's timeout, or (0) none but stop()'s. */
  readonly #deadlines: Deadlines;
  /** Set when stop()'s deadline passed: what still runs, or waits, is answered 503. */
  #stopped = false;

  constructor(parts: AnswererParts) {
    this.#wire = parts.wire;
    this.#responder = parts.responder;
    this.#stats = parts.stats;
    this.#recorder = parts.recorder;
    this.#records = parts.records;
    this.#log = parts.log;
    this.#timeout = parts.timeout;
    this.#cancelGrace = parts.cancelGrace;
    this.#deadlines = new Deadlines(parts.timeout > 0 ? parts.timeout : NO_TIMEOUT);
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
    if (call.state === CallState.Settled || ex?.over) {
      // The caller gave up while the request waited for a slot (counted then).
      this.#log.debug({ method: req.method, path: req.path }, "caller left before the handler ran");
      call.state = CallState.Settled;
      release();
      return;
    }
    if (this.#stopped) {
      call.state = CallState.Settled;
      this.#sendOnly(call, release, stoppedAnswer());
      return;
    }
    call.state = CallState.Running;
    call.release = release;
    call.started = performance.now();
    this.#recorder?.start();
    call.deadline = this.#deadlines.add(() => this.#expire(call));
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
        if (!this.#settle(call)) res.stream?.cancel().catch(() => undefined);
        else if (call.cancelled) {
          res.stream?.cancel().catch(() => undefined);
          this.#cancelled(call);
        } else this.#done(call, this.#finish(call, res));
      },
      (err: unknown) => {
        if (!call.cancelled) {
          this.#log.error({ err }, "request failed");
          span?.span.recordException(err instanceof Error ? err : String(err));
        }
        if (!this.#settle(call)) return;
        if (call.cancelled) this.#cancelled(call);
        else this.#done(call, this.#finish(call, internalError()));
      },
    );
  }

  /**
   * An exchange was abandoned (ServerExchange.abort): when its caller gave up, the request is a
   * cancellation. Queued, it is counted now and never runs; running, its handler has `cancelGrace`
   * to settle (its signal aborted) before the slot is freed anyway; its answer is dropped.
   */
  readonly callerGone = (ex: ServerExchange): void => {
    const call = ex.call as InFlight | undefined;
    if (call === undefined || call.state === CallState.Settled) return;
    call.cancelled = true;
    if (call.state === CallState.Queued) {
      call.state = CallState.Settled;
      this.#stats.cancelled();
      this.#recorder?.record(call.req.method, CANCELLED, 0);
      if (call.span !== undefined) endSpan(call.span.span, CANCELLED, undefined);
      this.#recordCancelled(call, 0);
      return;
    }
    setTimeout(() => {
      if (!this.#settle(call)) return;
      this.#log.warn(
        { method: call.req.method, path: call.req.path, cancelGrace: this.#cancelGrace },
        "handler still running after its caller left: slot freed, its answer will be dropped",
      );
      this.#cancelled(call);
    }, this.#cancelGrace).unref();
  };

  /**
   * stop()'s deadline passed: every running handler's caller is answered 503 `NM_ERR_INSTANCE_LOST`
   * (its signal aborts), and requests still waiting for a slot get the same answer without running.
   */
  stopNow(): void {
    this.#stopped = true;
    this.#deadlines.expireAll();
  }

  /** Accounts for a request whose caller left: 499, not an error; frees its slot. */
  #cancelled(call: InFlight): void {
    const ms = performance.now() - call.started;
    this.#stats.cancelled();
    this.#stats.busy(ms);
    if (call.span !== undefined) endSpan(call.span.span, CANCELLED, undefined);
    this.#recorder?.finish(call.req.method, CANCELLED, ms / 1000);
    this.#recordCancelled(call, ms);
    call.release();
  }

  /** The access record of a request its caller gave up: status 499, the caller's request id if any. */
  #recordCancelled(call: InFlight, ms: number): void {
    const req = call.req;
    this.#records?.add(
      req.method,
      req.path,
      CANCELLED,
      ms,
      headerValue(req.headers, MeshHeader.RequestId) ?? "",
    );
  }

  /**
   * The handler's deadline passed: its signal aborts (a Node handler's req/res close), then the 504
   * goes out — or, when the instance stopped at its deadline, a 503.
   */
  #expire(call: InFlight): void {
    const { req, ex } = call;
    if (!this.#stopped && this.#timeout === 0) {
      call.deadline = this.#deadlines.add(() => this.#expire(call));
      return;
    }
    call.state = CallState.Settled;
    if (call.cancelled) {
      ex?.abort(new Error("the instance stopped"));
      this.#cancelled(call);
      return;
    }
    let answer: WireResponse;
    if (this.#stopped) {
      this.#log.warn({ method: req.method, path: req.path }, "instance stopped before the handler answered");
      answer = stoppedAnswer();
      ex?.abort(new Error("the instance stopped before the handler answered"));
    } else {
      this.#log.warn({ method: req.method, path: req.path, timeout: this.#timeout }, "handler timed out");
      answer = errorResponse(504, ErrorCode.Timeout, `the handler did not answer within ${this.#timeout} ms`);
      ex?.abort(new Error(`the handler did not answer within ${this.#timeout} ms`));
    }
    this.#done(call, this.#finish(call, answer));
  }

  /** Answers a request that never ran (the instance stopped), and frees its slot. */
  #sendOnly(call: InFlight, release: () => void, res: WireResponse): void {
    call.release = release;
    call.started = performance.now();
    this.#recorder?.start();
    this.#done(call, this.#finish(call, res));
  }

  /** Settles the request: false when it already was (its deadline expired, its caller's grace ran out). */
  #settle(call: InFlight): boolean {
    if (call.state === CallState.Settled) return false;
    call.state = CallState.Settled;
    if (call.deadline !== undefined) this.#deadlines.settle(call.deadline);
    return true;
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
    this.#records?.add(
      call.req.method,
      call.req.path,
      status,
      ms,
      headerValue(res.headers, MeshHeader.RequestId) ?? "",
    );
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
