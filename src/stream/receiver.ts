import { abortReason, type CallTarget, type Frame, FrameKind, StreamError } from "../protocol/index.js";

/** Options of a {@link StreamReceiver}. */
export interface ReceiverOptions {
  /**
   * Chunks the sender may have in flight. With `granted` set, the sender already holds that much
   * credit (a response stream: the caller's declared window); otherwise the receiver grants the whole
   * window when the body is first read (a request stream: the 100-continue idea).
   */
  window: number;
  /** Credit the sender holds from the start (default 0). */
  granted?: number;
  /** Bytes of the body that came with the head message, delivered first. */
  first?: Uint8Array | undefined;
  /** The body's declared `content-length`, checked at the end. */
  length?: number | undefined;
  /** Sends a credit frame for `n` more chunks. */
  grant(n: number): void;
  /** The reader cancelled the body: tell the sender (an abort frame) and clean up. */
  cancel(reason: unknown): void;
  /** The body failed (a broken stream, the sender's abort, a lost peer): clean up; the error is the reader's. */
  failed?(err: Error): void;
  /** Names the service and subject in errors. */
  target?: CallTarget;
}

/**
 * Receives a streamed body: takes chunk, end and abort frames in order and offers the bytes as a
 * `ReadableStream`. Credit goes back only as the reader takes chunks, so at most `window` chunks wait
 * in memory; a lost, repeated or reordered chunk, credit overrun, a length that contradicts
 * `content-length`, or the sender's abort fail the stream with a {@link StreamError}.
 */
export class StreamReceiver {
  /** The body, as its reader sees it. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #o: ReceiverOptions;
  readonly #queue: Uint8Array[] = [];
  #expected = 1;
  #allowed: number;
  #taken = 0;
  #ungranted = 0;
  #bytes = 0;
  #ended = false;
  #error: Error | undefined;
  #started = false;
  #cancelled = false;
  #waiting: ReadableStreamDefaultController<Uint8Array> | undefined;
  #wake: (() => void) | undefined;

  constructor(options: ReceiverOptions) {
    this.#o = options;
    this.#allowed = options.granted ?? 0;
    if (options.first !== undefined && options.first.byteLength > 0) {
      this.#queue.push(options.first);
      this.#bytes = options.first.byteLength;
    }
    this.stream = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: (reason) => {
          if (this.#ended || this.#error) return;
          this.#cancelled = true;
          this.#queue.length = 0;
          options.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** True once the body ended, failed or was cancelled: no more frames are expected. */
  get finished(): boolean {
    return this.#ended || this.#error !== undefined || this.#cancelled;
  }

  /** Takes the next chunk, end or abort frame of this body. */
  accept(frame: Frame): void {
    if (this.finished) return;
    if (frame.kind === FrameKind.Abort) {
      const { code, message } = abortReason(frame.body);
      this.fail(
        new StreamError(`the other side aborted (${code}${message ? `: ${message}` : ""})`, this.#o.target),
      );
      return;
    }
    if (frame.n !== this.#expected) {
      const what = frame.kind === FrameKind.End ? "end" : "chunk";
      this.#violation(`${what} ${frame.n} arrived where ${this.#expected} was expected (lost or reordered)`);
      return;
    }
    this.#expected++;
    if (frame.kind === FrameKind.End) {
      const length = this.#o.length;
      if (length !== undefined && length !== this.#bytes) {
        this.#violation(`body of ${this.#bytes} bytes does not match its content-length ${length}`);
        return;
      }
      this.#ended = true;
    } else if (frame.kind === FrameKind.Chunk) {
      if (++this.#taken > this.#allowed) {
        this.#violation(`chunk ${frame.n} exceeds the credit granted (${this.#allowed})`);
        return;
      }
      this.#bytes += frame.body.byteLength;
      this.#queue.push(frame.body);
    } else {
      this.#violation(`unexpected frame kind ${frame.kind}`);
      return;
    }
    this.#deliver();
  }

  /** Fails the body with `err` (the exchange broke); the reader's next read rejects with it. */
  fail(err: Error): void {
    if (this.finished) return;
    this.#error = err;
    this.#queue.length = 0;
    this.#deliver();
    this.#o.failed?.(err);
  }

  #violation(message: string): void {
    this.fail(new StreamError(message, this.#o.target));
  }

  #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> | undefined {
    if (!this.#started) {
      this.#started = true;
      if (this.#o.granted === undefined) this.#give(this.#o.window);
    }
    if (this.#serve(controller)) return undefined;
    this.#waiting = controller;
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  /** Hands the reader what is there; false when it must wait. */
  #serve(controller: ReadableStreamDefaultController<Uint8Array>): boolean {
    if (this.#error) {
      controller.error(this.#error);
      return true;
    }
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      controller.enqueue(chunk);
      if (this.#queue.length === 0 && this.#ended) controller.close();
      else if (!this.#ended && chunk !== this.#o.first) this.#credit();
      return true;
    }
    if (this.#ended) {
      controller.close();
      return true;
    }
    return false;
  }

  /** Returns credit in batches of half the window, so a steady reader costs one credit per few chunks. */
  #credit(): void {
    if (++this.#ungranted >= Math.max(1, this.#o.window >> 1)) {
      const n = this.#ungranted;
      this.#ungranted = 0;
      this.#give(n);
    }
  }

  #give(n: number): void {
    this.#allowed += n;
    this.#o.grant(n);
  }

  #deliver(): void {
    const controller = this.#waiting;
    if (controller === undefined) return;
    if (this.#serve(controller)) {
      this.#waiting = undefined;
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    }
  }
}
