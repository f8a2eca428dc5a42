import { encodeFrame, FrameKind } from "../protocol/index.js";
import type { ChunkReader } from "./chunk-reader.js";

/** Options of a {@link StreamSender}. */
export interface SenderOptions {
  /** Where the body comes from. */
  reader: ChunkReader;
  /** Largest chunk body, in bytes. */
  chunkSize: number;
  /** Chunks the receiver allowed before any credit frame (its declared window). */
  credit?: number;
  /** Publishes one frame to the receiver. */
  send(frame: Uint8Array): void;
}

/**
 * Sends a body as chunk frames numbered from 1, one per credit the receiver granted, then an end
 * frame (PROTOCOL.md §8). Reads from the source only when it may send, so a slow receiver slows the
 * source instead of growing memory.
 */
export class StreamSender {
  readonly #reader: ChunkReader;
  readonly #chunkSize: number;
  readonly #send: (frame: Uint8Array) => void;
  #credit: number;
  #seq = 0;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** Resolves once the end frame is sent; rejects with the source's error (the caller aborts). */
  readonly done: Promise<void>;

  constructor(options: SenderOptions) {
    this.#reader = options.reader;
    this.#chunkSize = options.chunkSize;
    this.#send = options.send;
    this.#credit = options.credit ?? 0;
    this.done = this.#pump();
    this.done.catch(() => undefined);
  }

  /** Chunks sent so far. */
  get sent(): number {
    return this.#seq;
  }

  /** Adds credit for `n` more chunks. */
  grant(n: number): void {
    this.#credit += n;
    this.#wakeUp();
  }

  /** Stops sending (the exchange ended or the receiver aborted) and cancels the source. */
  stop(reason?: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reader.cancel(reason);
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #pump(): Promise<void> {
    for (;;) {
      while (this.#credit <= 0 && !this.#stopped) await new Promise<void>((r) => (this.#wake = r));
      if (this.#stopped) return;
      const piece = await this.#reader.next(this.#chunkSize);
      if (this.#stopped) return;
      if (piece === null) {
        this.#stopped = true;
        this.#send(encodeFrame(FrameKind.End, ++this.#seq));
        return;
      }
      this.#credit--;
      this.#send(encodeFrame(FrameKind.Chunk, ++this.#seq, piece));
    }
  }
}
