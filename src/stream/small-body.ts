/**
 * A request body given as a stream that turns out small: read ahead, so that a body that fits in one
 * message goes as one message (PROTOCOL.md §2) — which a peer implementing only §1–§7 can read — and
 * only a large or slow one streams (§8).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ChunkReader } from "./chunk-reader.js";

/**
 * How long a stream body may take to end before it is streamed anyway: a source that produces
 * slowly (a live upload) is sent as it comes rather than held back.
 */
export const SMALL_BODY_WAIT_MS = 50;

/** What {@link readSmall} found: the whole body, or a reader for a body to stream. */
export type SmallBody =
  | { readonly whole: Uint8Array; readonly rest?: undefined }
  | { readonly whole?: undefined; readonly rest: ChunkReader };

const WAIT = Symbol("wait");

/**
 * Reads `stream` until it ends, passes `room` bytes, or `waitMs` pass.
 *
 * @param stream - the request body.
 * @param room - the most bytes that fit in one message beside the head.
 * @param waitMs - how long to wait for the end (default {@link SMALL_BODY_WAIT_MS}).
 * @returns `whole` when the body ended within `room` bytes in time; else `rest`, a reader that hands
 *   out the bytes read so far first.
 * @throws the stream's error; TypeError when it yields something other than bytes.
 */
export async function readSmall(
  stream: ReadableStream<Uint8Array>,
  room: number,
  waitMs = SMALL_BODY_WAIT_MS,
): Promise<SmallBody> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof WAIT>((resolve) => {
    timer = setTimeout(() => resolve(WAIT), waitMs);
  });
  const resume = (pending?: Promise<ReadableStreamReadResult<Uint8Array>>): SmallBody => ({
    rest: new ChunkReader(stream, { reader, first: Buffer.concat(parts, size), pending }),
  });
  try {
    for (;;) {
      const read = reader.read();
      const r = await Promise.race([read, late]);
      if (r === WAIT) return resume(read);
      if (r.done) return { whole: parts.length === 1 ? parts[0]! : Buffer.concat(parts, size) };
      const value: unknown = r.value;
      if (!(value instanceof Uint8Array)) throw new TypeError("a body stream must yield Uint8Array chunks");
      parts.push(value);
      size += value.byteLength;
      if (size > room) return resume();
    }
  } catch (err) {
    reader.cancel(err).catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
