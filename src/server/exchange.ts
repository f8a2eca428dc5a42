import type { Msg } from "@nats-io/nats-core";
import {
  abortReason,
  decodeFrame,
  ErrorCode,
  encodeAbort,
  encodeFrame,
  type Frame,
  FrameKind,
  StreamError,
} from "../protocol/index.js";
import type { StreamReceiver, StreamSender } from "../stream/index.js";

/**
 * How long a streamed body may wait on a caller that asked for no heartbeat (no chunk of its upload,
 * no credit for the answer) before the instance gives the exchange up.
 */
export const STREAM_IDLE_MS = 30_000;

/** Publishes `data` to `subject`, with `reply` when given. */
export type Publish = (subject: string, data: Uint8Array, reply: string | undefined) => void;

/**
 * What a handler's adapter can learn of the exchange beside the request: whether the caller went
 * away. Given only to requests that can be aborted (their caller heard from the instance).
 */
export interface RequestControl {
  /** Aborted when the caller aborts, goes silent, or the body breaks. Created on first use. */
  readonly signal: AbortSignal;
  /** Runs `listener` once when the request is aborted (cheaper than the signal). */
  onAbort(listener: (reason: Error) => void): void;
}

/**
 * The instance's side of one request that lasts beyond a single answer (PROTOCOL.md §8): it heartbeats
 * the caller while the handler works (each heartbeat hands over this exchange's subject), takes the
 * caller's frames (credit, request-body chunks, heartbeats, abort) on that subject, and gives up on a
 * caller silent for twice its heartbeat while a body streams.
 */
export class ServerExchange implements RequestControl {
  /** The exchange's number in its instance (the last token of its subject). */
  readonly id: number;
  /** The caller's reply subject: where every message to it goes. */
  readonly reply: string;
  /** Heartbeat interval the caller asked for, or 0. */
  readonly heartbeat: number;
  /** Receives a streamed request body. */
  receiver: StreamReceiver | undefined;
  /** Sends a streamed response body. */
  sender: StreamSender | undefined;
  readonly #publish: Publish;
  readonly #release: (ex: ServerExchange) => void;
  readonly #idle: number;
  #sentAt: number;
  #heardAt = 0;
  #handed = false;
  #over = false;
  /** A request held until its caller confirms it is still there (see {@link hold}). */
  #held: (() => void) | undefined;
  #aborted: Error | undefined;
  #listeners: Array<(reason: Error) => void> | undefined;
  #controller: AbortController | undefined;
  /** The request this exchange belongs to, once queued (the {@link Answerer} reads it back on an abort). */
  call: unknown;
  /** Told when the exchange is abandoned (not when it closes normally). */
  readonly #gone: ((ex: ServerExchange, reason: Error) => void) | undefined;

  readonly #inbox: string;
  #subject: string | undefined;

  constructor(
    inbox: string,
    id: number,
    reply: string,
    heartbeat: number,
    publish: Publish,
    release: (ex: ServerExchange) => void,
    idle = STREAM_IDLE_MS,
    gone?: (ex: ServerExchange, reason: Error) => void,
  ) {
    this.#gone = gone;
    this.#idle = idle;
    this.#inbox = inbox;
    this.id = id;
    this.reply = reply;
    this.heartbeat = heartbeat;
    this.#publish = publish;
    this.#release = release;
    this.#sentAt = performance.now();
  }

  /** Subject the caller sends this exchange's frames to: `<instance inbox>.<id>` (built on first use). */
  get subject(): string {
    this.#subject ??= `${this.#inbox}.${this.id.toString(36)}`;
    return this.#subject;
  }

  /** True once this exchange's subject went to the caller (an acknowledgement, a heartbeat, credit). */
  get handed(): boolean {
    return this.#handed;
  }

  /** True while a request waits for its caller's confirmation (see {@link hold}). */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /**
   * Holds the request until the caller shows it is still there (PROTOCOL.md §8.4, after a stall):
   * the instance hands over this exchange's subject at once, and `run` is called when the caller's
   * first frame (a heartbeat) arrives there. An abort, or silence for twice the heartbeat, abandons
   * the exchange instead: the request never runs.
   */
  hold(run: () => void): void {
    this.#held = run;
    this.send(encodeFrame(FrameKind.Credit, 0), true);
  }

  /** True once the exchange ended (answered, or abandoned). */
  get over(): boolean {
    return this.#over;
  }

  /** The reason the exchange was abandoned, if it was. */
  get aborted(): Error | undefined {
    return this.#aborted;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#aborted);
    }
    return this.#controller.signal;
  }

  onAbort(listener: (reason: Error) => void): void {
    if (this.#aborted) {
      listener(this.#aborted);
      return;
    }
    this.#listeners ??= [];
    this.#listeners.push(listener);
  }

  /**
   * Sends a message to the caller. With `handOver`, the message carries this exchange's subject as
   * its reply subject (needed once, by the first message the caller must answer on).
   */
  send(data: Uint8Array, handOver = false): void {
    if (this.#over) return;
    this.#sentAt = performance.now();
    if (handOver && !this.#handed) {
      this.#handed = true;
      this.#heardAt = this.#sentAt;
    }
    this.#publish(this.reply, data, handOver ? this.subject : undefined);
  }

  /** The sweep's visit: a heartbeat when the caller has heard nothing lately; a silent caller is given up. */
  tick(now: number): void {
    if (this.#over) return;
    // A body in flight needs the caller (credit, chunks): a silent one is given up — after twice its
    // heartbeat, or the idle limit (STREAM_IDLE_MS by default) for a caller that sent none — so that it cannot hold the
    // concurrency slot. A caller merely waiting for a one-message answer is left alone.
    const streaming = this.receiver !== undefined || this.sender !== undefined || this.#held !== undefined;
    const limit = this.heartbeat > 0 ? 2 * this.heartbeat : this.#idle;
    if (streaming && this.#handed && now - this.#heardAt > limit) {
      this.abort(new StreamError(`the caller went silent for ${Math.round(now - this.#heardAt)} ms`), true);
      return;
    }
    if (this.heartbeat > 0 && now - this.#sentAt >= this.heartbeat / 2)
      this.send(encodeFrame(FrameKind.Credit, 0), true);
  }

  /** Takes one frame the caller sent to this exchange's subject. */
  deliver(msg: Msg): void {
    if (this.#over) return;
    if (msg.data.byteLength === 0 && msg.headers?.code === 503) {
      // nats-server's no-responders answer to a message of ours that handed over this subject:
      // nobody listens on the caller's reply subject any more.
      this.abort(new StreamError("the caller is gone (nobody listens on its reply subject)"));
      return;
    }
    this.#heardAt = performance.now();
    let frame: Frame;
    try {
      frame = decodeFrame(msg.data);
    } catch (err) {
      this.abort(err as StreamError, true);
      return;
    }
    switch (frame.kind) {
      case FrameKind.Credit: {
        if (frame.n > 0) this.sender?.grant(frame.n);
        const held = this.#held;
        if (held !== undefined) {
          this.#held = undefined;
          held();
        }
        return;
      }
      case FrameKind.Abort: {
        const { code, message } = abortReason(frame.body);
        this.abort(new StreamError(`the caller aborted (${code}${message ? `: ${message}` : ""})`));
        return;
      }
      default:
        if (this.receiver) this.receiver.accept(frame);
        else
          this.abort(
            new StreamError(`unexpected frame kind ${frame.kind}: the request has no streamed body`),
            true,
          );
    }
  }

  /**
   * Abandons the exchange: the request body fails, the response body stops, the handler's signal
   * aborts; with `tell`, the caller gets an abort frame.
   */
  abort(reason: Error, tell = false): void {
    if (this.#over) return;
    if (tell) this.send(encodeAbort(ErrorCode.Stream, reason.message));
    this.#aborted = reason;
    this.#held = undefined;
    this.receiver?.fail(reason);
    this.sender?.stop(reason);
    this.#controller?.abort(reason);
    for (const listener of this.#listeners?.splice(0) ?? []) listener(reason);
    this.close();
    this.#gone?.(this, reason);
  }

  /** Ends the exchange: frames for it are dropped from now on. */
  close(): void {
    if (this.#over) return;
    this.#over = true;
    this.#release(this);
  }
}
