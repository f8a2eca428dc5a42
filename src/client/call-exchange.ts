import type { Msg } from "@nats-io/nats-core";
import {
  BadResponseError,
  type CallTarget,
  ConnectionClosedError,
  decodeFrame,
  decodeResponse,
  ErrorCode,
  encodeAbort,
  encodeFrame,
  FrameKind,
  InstanceLostError,
  Kind,
  kindOf,
  type MeshError,
  NoRespondersError,
  StreamError,
  TimeoutError,
  type WireResponse,
} from "../protocol/index.js";
import { type ChunkReader, declaredLength, StreamReceiver, StreamSender } from "../stream/index.js";
import { type DeadlineHandle, DeadlineLanes } from "../util/deadline-lanes.js";
import { livenessKey, type ServiceLiveness } from "./liveness.js";
import type { PendingCall, RequestMux } from "./mux.js";

const EMPTY = new Uint8Array(0);
/** The head deadlines of every call in this process: a timer per timeout step (DeadlineLanes), not per call. */
const deadlines = new DeadlineLanes();

/** Settings of one {@link CallExchange}. */
export interface CallExchangeOptions {
  /** Milliseconds until the response head must arrive; 0 for none. */
  timeout: number;
  /** Aborts the call; after the head arrived, it fails the body. */
  signal?: AbortSignal | undefined;
  /** Names the service and subject in errors. */
  target: CallTarget;
  /** Coalesce the head's publish with others of the same event-loop turn. */
  batch?: boolean | undefined;
  /** Heartbeat interval the request asked for (its `mesh-heartbeat`), or 0. */
  heartbeat: number;
  /** Credit granted to a streamed response (the request's `mesh-window`), or 0. */
  window: number;
  /** The request body to stream after the instance grants credit; the head went without it. */
  body?: ChunkReader | undefined;
  /** Largest chunk of a streamed request body. */
  chunkSize: number;
  /** Request method: a response to HEAD has no body. */
  method: string;
  /**
   * The caller sends the request again elsewhere when it fails with `InstanceLostError` (it is
   * idempotent and its retries are on): for a service known to acknowledge, the call then fails as
   * soon as the acknowledgement is late (PROTOCOL.md §8.4), not after twice the heartbeat.
   */
  resendable?: boolean | undefined;
}

/**
 * One call from the client's side of the wire (PROTOCOL.md §4, §8): publishes the request head,
 * streams the request body to the instance that grants credit, and resolves with the response head —
 * its body in memory, or a `ReadableStream` fed by chunk frames. While the call lasts it heartbeats
 * the instance (once it knows the instance's subject) and fails when the instance goes silent.
 */
export class CallExchange implements PendingCall {
  readonly target: CallTarget;
  readonly heartbeat: number;
  heard = true;
  heardAt = 0;
  /** Whether silence counts: the service is known to speak §8 (or the call is leaving). */
  watching: boolean;
  readonly response: Promise<WireResponse>;
  readonly #mux: RequestMux;
  readonly #o: CallExchangeOptions;
  #reply = "";
  #resolve!: (res: WireResponse) => void;
  #reject!: (err: unknown) => void;
  #deadline: DeadlineHandle | undefined;
  #onAbort: (() => void) | undefined;
  /** The instance's subject for this exchange, once it handed one over. */
  #peer: string | undefined;
  #sentAt = 0;
  #headed = false;
  #over = false;
  /**
   * The caller gave up before the instance handed over its subject: the call has failed, but the
   * exchange stays routed until the instance's next message, so that the abort can reach it there.
   */
  #leaving = false;
  /** Why the caller gave up, for the abort frame sent when {@link #leaving}. */
  #reason = "";
  #sender: StreamSender | undefined;
  #receiver: StreamReceiver | undefined;
  /** The service's key in the mux's {@link ServiceLiveness}. */
  readonly #key: string;
  /** `performance.now()` when the request went out (heartbeat calls only), for the round trip. */
  #publishedAt = 0;
  /** A message arrived from the instance. */
  #heardOnce = false;
  /** Milliseconds from publishing the request to its first message. */
  #rtt = 0;
  /** The acknowledgement deadline, while it runs. */
  #ack: DeadlineHandle | undefined;
  /** The call was given up because no acknowledgement came in time. */
  #unacknowledged = false;

  /** The instance's subject for this exchange once handed over: where credit and chunks go. */
  get peer(): string | undefined {
    return this.#peer;
  }

  /**
   * Publishes the request and starts waiting.
   *
   * @param subject - the request subject.
   * @param head - the encoded request head message.
   */
  constructor(mux: RequestMux, subject: string, head: Uint8Array, options: CallExchangeOptions) {
    this.#mux = mux;
    this.#o = options;
    this.target = options.target;
    this.heartbeat = options.heartbeat;
    this.#key = livenessKey(options.target.subject ?? "");
    this.watching = options.heartbeat > 0 && mux.liveness.speaks(this.#key);
    this.response = new Promise<WireResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const { signal, timeout } = options;
    if (signal?.aborted) {
      this.#finish(signal.reason);
      return;
    }
    try {
      this.#reply = mux.open(this);
    } catch (err) {
      this.#finish(err);
      return;
    }
    if (timeout > 0) {
      this.#deadline = deadlines.add(timeout, () => this.fail(new TimeoutError(this.target, timeout)));
    }
    if (signal) {
      this.#onAbort = () => this.fail(signal.reason);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (options.heartbeat > 0) {
      this.#publishedAt = performance.now();
      const ackMs = this.watching && options.resendable ? mux.liveness.ackDeadline(this.#key) : undefined;
      if (ackMs !== undefined) this.#ack = deadlines.add(ackMs, () => this.#ackMissed(ackMs));
    }
    mux.publish(subject, head, this.#reply, options.batch, (err) =>
      this.fail(mux.usable ? (err as MeshError) : new ConnectionClosedError(this.target, { cause: err })),
    );
  }

  deliver(msg: Msg): void {
    const data = msg.data;
    const kind = kindOf(data);
    if (this.#leaving) {
      this.#left(msg.reply, kind, data);
      return;
    }
    if (!this.#heardOnce) this.#firstMessage(kind);
    if (kind === Kind.Credit || (this.#headed && kind >= FrameKind.Chunk && kind <= FrameKind.Abort)) {
      this.#frame(data, msg.reply);
      return;
    }
    if (this.#headed) return;
    if (data.byteLength === 0 && msg.headers?.code === 503) {
      this.fail(new NoRespondersError(this.target));
      return;
    }
    if (kind === Kind.Abort) {
      this.#frame(data, msg.reply);
      return;
    }
    let res: WireResponse;
    try {
      res = decodeResponse(data, this.target);
    } catch (err) {
      this.fail(err as MeshError);
      return;
    }
    this.#headed = true;
    this.#settleDeadline();
    if (this.heartbeat > 0) {
      if (res.heartbeat) this.#live.heard(this.#key, this.#rtt, true);
      else this.#live.sample(this.#key, this.#rtt);
    }
    if (!res.streamed) {
      this.#finish(undefined, res);
      return;
    }
    this.#openBody(res, msg.reply);
  }

  /**
   * The instance's first message: the acknowledgement deadline is met; an acknowledgement (or any
   * other frame) shows the service speaks §8.
   */
  #firstMessage(kind: number): void {
    this.#heardOnce = true;
    if (this.#ack !== undefined) {
      deadlines.settle(this.#ack);
      this.#ack = undefined;
    }
    if (this.heartbeat <= 0) return;
    this.#rtt = performance.now() - this.#publishedAt;
    if (kind === Kind.Credit || kind === Kind.StreamResponse) {
      this.#live.heard(this.#key, this.#rtt, false);
      this.watching = true;
    }
  }

  get #live(): ServiceLiveness {
    return this.#mux.liveness;
  }

  /** No message within the acknowledgement deadline: the instance is lost for this call, which is re-sent. */
  #ackMissed(ms: number): void {
    this.#ack = undefined;
    if (this.#heardOnce || this.#over || this.#leaving) return;
    this.#unacknowledged = true;
    this.fail(new InstanceLostError(this.target, ms, {}, false));
  }

  /** A streamed response head: the body comes as chunk frames, credited as the reader reads. */
  #openBody(res: WireResponse, peer: string | undefined): void {
    if (!peer || this.#o.window <= 0) {
      this.fail(
        new BadResponseError(
          peer ? "streamed response the request did not accept" : "streamed response without a reply subject",
          this.target,
        ),
      );
      return;
    }
    this.#peer ??= peer;
    const bodyless = this.#o.method === "HEAD" || res.status === 204 || res.status === 304;
    const receiver = new StreamReceiver({
      window: this.#o.window,
      granted: this.#o.window,
      first: res.body,
      length: bodyless ? undefined : declaredLength(res.headers),
      target: this.target,
      grant: (n) => this.#send(encodeFrame(FrameKind.Credit, n)),
      cancel: () => this.#abort(ErrorCode.Stream, "the caller cancelled the response body"),
      failed: (err) => this.#abort(ErrorCode.Stream, err.message),
    });
    this.#receiver = receiver;
    res.body = EMPTY;
    res.stream = receiver.stream;
    this.#resolve(res);
  }

  /** A stream frame: credit for the request body, or a piece of the response body. */
  #frame(data: Uint8Array, reply: string | undefined): void {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(data, this.target);
    } catch (err) {
      this.fail(err as StreamError);
      return;
    }
    if (frame.kind === FrameKind.Credit) {
      // Heartbeats hand over the instance's subject too: the caller can then abort a slow request
      // and heartbeat back (PROTOCOL.md §8.3).
      if (frame.n > 0) this.#credit(frame.n, reply);
      else if (reply && !this.#over) this.#peer ??= reply;
      return;
    }
    if (frame.kind === FrameKind.Abort && !this.#headed) {
      this.#peer = undefined; // nothing to tell a side that gave up
      this.#finish(new StreamError("the service aborted the request", this.target));
      return;
    }
    const receiver = this.#receiver;
    if (!receiver) return;
    receiver.accept(frame);
    if (receiver.finished) this.#close();
  }

  /** Credit for the request body; the first grant names the instance's subject and starts the body. */
  #credit(n: number, reply: string | undefined): void {
    const body = this.#o.body;
    if (!body || this.#over) return;
    if (this.#sender) {
      this.#sender.grant(n);
      return;
    }
    if (!reply) {
      this.fail(new BadResponseError("credit without a reply subject", this.target));
      return;
    }
    this.#peer ??= reply;
    const sender = new StreamSender({
      reader: body,
      chunkSize: this.#o.chunkSize,
      credit: n,
      send: (frame) => this.#send(frame),
    });
    this.#sender = sender;
    sender.done.catch((err: unknown) => {
      // The request body's source failed: the instance must not take a truncated body as whole.
      this.#abort(ErrorCode.Stream, "the request body failed");
      this.fail(err instanceof Error ? err : new StreamError(String(err), this.target));
    });
  }

  tick(now: number): void {
    if (this.#peer !== undefined && now - this.#sentAt >= this.heartbeat / 2) {
      this.#send(encodeFrame(FrameKind.Credit, 0));
    }
  }

  fail(err: unknown): void {
    if (this.#over) return;
    if (this.#leaving) {
      // Nothing heard from the instance within twice its heartbeat: nobody left to tell.
      this.#close();
      return;
    }
    if (!this.#headed) {
      if (
        this.#peer === undefined &&
        this.heartbeat > 0 &&
        this.#reply &&
        !(err instanceof NoRespondersError)
      ) {
        // The instance hands over its subject with its first heartbeat (PROTOCOL.md §8.4): wait for
        // it, bounded by the heartbeat watchdog, to send the abort there. The user is told now.
        this.#leaving = true;
        // Given up after twice the heartbeat of silence, whatever the service is known to speak.
        this.watching = true;
        this.#settleDeadline();
        if (this.#onAbort) this.#o.signal?.removeEventListener("abort", this.#onAbort);
        this.#onAbort = undefined;
        this.#reason = (err as Error)?.message ?? "the caller gave up";
        this.#reject(err);
        return;
      }
      this.#abort(ErrorCode.Stream, (err as Error)?.message ?? "the caller gave up");
      this.#finish(err);
      return;
    }
    if (this.#receiver && !this.#receiver.finished) this.#receiver.fail(err as Error);
    this.#close();
  }

  /**
   * The instance's first message after the caller gave up: an abort to the subject it handed over,
   * if it did; a final answer is dropped. Either way the exchange ends.
   */
  #left(reply: string | undefined, kind: number, data: Uint8Array): void {
    if (this.#unacknowledged && kind === Kind.Response) {
      // An answer without an acknowledgement first: a plain peer (§1–§7), unless it says otherwise.
      let marked = false;
      try {
        marked = decodeResponse(data, this.target).heartbeat === true;
      } catch {
        // malformed: no marker
      }
      if (!marked) this.#live.forget(this.#key);
    }
    if (reply) {
      this.#peer = reply;
      this.#abort(ErrorCode.Stream, this.#reason);
    }
    this.#close();
  }

  #send(frame: Uint8Array): void {
    const peer = this.#peer;
    if (peer === undefined || this.#over) return;
    this.#sentAt = performance.now();
    this.#mux.publish(peer, frame, undefined, false, () => undefined);
  }

  #abort(code: string, message: string): void {
    this.#send(encodeAbort(code, message));
  }

  #finish(err: unknown, res?: WireResponse): void {
    this.#close();
    if (res !== undefined) this.#resolve(res);
    else this.#reject(err);
  }

  #settleDeadline(): void {
    if (this.#deadline === undefined) return;
    deadlines.settle(this.#deadline);
    this.#deadline = undefined;
  }

  /** Ends the exchange: no more messages are routed to it or sent by it. */
  #close(): void {
    if (this.#over) return;
    this.#over = true;
    this.#settleDeadline();
    if (this.#ack !== undefined) {
      deadlines.settle(this.#ack);
      this.#ack = undefined;
    }
    if (this.#onAbort) this.#o.signal?.removeEventListener("abort", this.#onAbort);
    this.#sender?.stop();
    if (!this.#sender) this.#o.body?.cancel();
    if (this.#reply) this.#mux.release(this.#reply, this);
  }
}
