/**
 * Reads a body source in pieces for the wire: a piece holds what the source has ready, coalesced up
 * to a size, and is handed over as soon as the source makes the reader wait past the current
 * macrotask. So a fast producer fills whole chunks, and a slow one (server-sent events) has each
 * write leave when it is made, not when a chunk fills.
 */
const TICK = Symbol("tick");
// Derived from the reader, not the DOM lib's ReadableStreamReadResult: users' projects may type-check
// without "DOM" in lib, and this type reaches the published declarations.
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

function raceTick(read: Promise<ReadResult>): Promise<ReadResult | typeof TICK> {
  return new Promise((resolve, reject) => {
    const timer = setImmediate(() => resolve(TICK));
    read.then(
      (r) => {
        clearImmediate(timer);
        resolve(r);
      },
      (err) => {
        clearImmediate(timer);
        reject(err);
      },
    );
  });
}

/** A stream whose reading began before a {@link ChunkReader} took it over. */
export interface ResumedRead {
  /** The stream's reader (the stream is locked to it). */
  reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Bytes read so far, handed out before anything else. */
  first: Uint8Array;
  /** A read started and not yet settled. */
  pending?: Promise<ReadResult> | undefined;
}

/** A body source read piece by piece (see the module comment). */
export class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #left: Uint8Array | undefined;
  #pending: Promise<ReadResult> | undefined;
  #done: boolean;

  /**
   * @param source - a stream of byte chunks, or bytes already in memory.
   * @param resume - for a stream whose reading began elsewhere (see `readSmall`): its reader, the
   *   bytes already read (handed out first) and the read still pending, if any.
   */
  constructor(source: ReadableStream<Uint8Array> | Uint8Array, resume?: ResumedRead) {
    if (source instanceof Uint8Array) {
      this.#reader = undefined;
      this.#left = source.byteLength > 0 ? source : undefined;
      this.#done = true;
    } else {
      this.#reader = resume?.reader ?? source.getReader();
      const first = resume?.first;
      this.#left = first !== undefined && first.byteLength > 0 ? first : undefined;
      this.#pending = resume?.pending;
      this.#done = false;
    }
  }

  /** True once the source is exhausted and every byte was handed out. */
  get ended(): boolean {
    return this.#done && this.#left === undefined;
  }

  /**
   * The next piece, at most `max` bytes; `null` at the end of the source.
   *
   * @throws the source's error; TypeError when it yields something other than bytes.
   */
  async next(max: number): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    while (size < max) {
      const left = this.#left;
      if (left !== undefined) {
        const take = Math.min(left.byteLength, max - size);
        parts.push(take === left.byteLength ? left : left.subarray(0, take));
        this.#left = take === left.byteLength ? undefined : left.subarray(take);
        size += take;
        continue;
      }
      if (this.#done) break;
      const read = this.#pending ?? this.#reader!.read();
      this.#pending = read;
      const r = size === 0 ? await read : await raceTick(read);
      if (r === TICK) break;
      this.#pending = undefined;
      if (r.done) {
        this.#done = true;
        break;
      }
      const value: unknown = r.value;
      if (!(value instanceof Uint8Array)) throw new TypeError("a body stream must yield Uint8Array chunks");
      if (value.byteLength > 0) this.#left = value;
    }
    if (size === 0) return null;
    if (parts.length === 1) return parts[0]!;
    return Buffer.concat(parts, size);
  }

  /** Stops reading and cancels the source. */
  cancel(reason?: unknown): void {
    this.#done = true;
    this.#left = undefined;
    this.#reader?.cancel(reason).catch(() => undefined);
  }
}
