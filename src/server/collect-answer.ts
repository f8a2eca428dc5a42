/**
 * `collectUpTo`: a streamed answer's body read into bytes when it is small enough to keep.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { WireResponse } from "../protocol/index.js";

const EMPTY = new Uint8Array(0);

/**
 * Reads a streamed answer's body up to `max` bytes: a body that ends within it becomes bytes (and
 * can be kept); a longer one is handed on as a stream of what was read and the rest.
 */
export async function collectUpTo(res: WireResponse, max: number): Promise<WireResponse> {
  const reader = res.stream!.getReader();
  const parts: Uint8Array[] = res.body.byteLength > 0 ? [res.body] : [];
  let size = res.body.byteLength;
  while (size <= max) {
    const { done, value } = await reader.read();
    if (done) return { ...res, body: Buffer.concat(parts, size), stream: undefined };
    parts.push(value);
    size += value.byteLength;
  }
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { ...res, body: EMPTY, stream };
}
