/**
 * Where the body a Node handler writes goes (adapters/node.ts).
 *
 * @module
 */
import type { Buffer } from "node:buffer";

/** Body bytes a handler may write before its answer turns into a streamed one. */
export const STREAM_AFTER = 64 * 1024;

/** A write's completion callback, as `Writable.write` takes it. */
export type WriteCallback = (err?: Error | null) => void;

const NO_CALLBACK: WriteCallback = () => undefined;

/** What a {@link BodySink} tells the response it belongs to. */
export interface SinkOwner {
  /** The body turned into a stream (once): the answer can go, the rest streams. */
  streamed(): void;
  /** A write that was held (the stream's queue was full) was taken: the writer may go on. */
  drained(): void;
  /** Runs `cb` after the current call returns, as a socket's write callback runs. */
  defer(cb: WriteCallback): void;
}

/**
 * The body of one response: in memory until the handler ends the response (one message), or —
 * once it has written more than {@link STREAM_AFTER} bytes, or wrote and did not end within the same
 * turn of the event loop — a stream the server sends chunk by chunk. A write is acknowledged when
 * the stream's reader takes it, so a slow caller slows the handler's writes.
 */
export class BodySink {
  readonly chunks: Buffer[] = [];
  size = 0;
  /** Set when the body became a stream. */
  stream: ReadableStream<Uint8Array> | undefined;
  readonly #owner: SinkOwner;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** The held write's callback (a no-op for a write without one), until the reader takes it. */
  #held: WriteCallback | undefined;
  #check: NodeJS.Immediate | undefined;

  /** @param owner - told when the body streams and when a held write is taken. */
  constructor(owner: SinkOwner) {
    this.#owner = owner;
  }

  /**
   * Takes a chunk; `cb` runs once it is taken, never before this returns. Returns false when the
   * writer should wait for {@link SinkOwner.drained}, as `Writable.write` does.
   *
   * @param last - the handler is ending the response: no check for a body that outlives this turn.
   */
  write(chunk: Buffer, cb: WriteCallback | undefined, last: boolean): boolean {
    const controller = this.#controller;
    if (controller !== undefined) {
      controller.enqueue(chunk);
      if ((controller.desiredSize ?? 0) > 0) {
        if (cb) this.#owner.defer(cb);
        return true;
      }
      this.#held = cb ?? NO_CALLBACK;
      return false;
    }
    this.chunks.push(chunk);
    this.size += chunk.byteLength;
    if (cb) this.#owner.defer(cb);
    if (this.size > STREAM_AFTER) this.#toStream();
    else if (!last) this.#check ??= setImmediate(() => this.#toStream());
    return true;
  }

  /** The response ended: the in-memory body is complete, or the stream closes. */
  end(): void {
    this.#stopCheck();
    this.#controller?.close();
  }

  /** The response broke off: a stream errors (the caller gets an abort). */
  fail(err: Error): void {
    this.#stopCheck();
    this.#controller?.error(err);
  }

  #stopCheck(): void {
    if (this.#check) clearImmediate(this.#check);
    this.#check = undefined;
  }

  #release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    held();
    this.#owner.drained();
  }

  #toStream(): void {
    this.#stopCheck();
    if (this.stream !== undefined) return;
    const chunks = this.chunks.splice(0);
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          for (const c of chunks) controller.enqueue(c);
        },
        pull: () => this.#release(),
        cancel: () => {
          this.#controller = undefined;
          this.#release();
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: STREAM_AFTER }),
    );
    this.#owner.streamed();
  }
}
