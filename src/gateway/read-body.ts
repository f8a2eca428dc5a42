/**
 * Reads a public request's body into memory, within the route's size limit and a deadline.
 *
 * @module
 */
import type { Readable } from "node:stream";
import { BadRequestError, BodyTooLargeError, RequestTimeoutError } from "./errors.js";

const EMPTY = new Uint8Array(0);

/**
 * Checks a `Content-Length` against the limit before reading anything.
 *
 * @param contentLength - the header's value, if any
 * @param limit - the route's `maxBody`, in bytes
 * @returns nothing
 * @throws {@link BodyTooLargeError} when the announced body is over the limit
 * @throws {@link BadRequestError} for a value that is not a length
 * @example
 * ```ts
 * checkContentLength(req.headers["content-length"], 65_536);
 * ```
 */
export function checkContentLength(contentLength: string | undefined, limit: number): void {
  if (contentLength === undefined) return;
  if (!/^\d+$/.test(contentLength)) throw new BadRequestError("invalid content-length");
  if (Number(contentLength) > limit) throw new BodyTooLargeError(limit);
}

/**
 * Reads the whole body. Stops reading, and rejects, as soon as more than `limit` bytes came, or when
 * `timeoutMs` passes first. The stream is left paused after a rejection: the caller answers and
 * closes the connection or stream.
 *
 * @param body - the request stream
 * @param limit - the largest body accepted, in bytes
 * @param timeoutMs - time left to receive the body
 * @param requestTimeout - the configured limit, named in the timeout error; 0 for no deadline
 *   (default `timeoutMs`)
 * @returns the body bytes (empty when there is none)
 * @throws {@link BodyTooLargeError} past the limit
 * @throws {@link RequestTimeoutError} when the body did not arrive in time
 * @throws the stream's error when the client went away
 * @example
 * ```ts
 * const body = await readBody(req, 1024 * 1024, 30_000);
 * ```
 */
export function readBody(
  body: Readable,
  limit: number,
  timeoutMs: number,
  requestTimeout = timeoutMs,
): Promise<Uint8Array> {
  if (body.readableEnded) return Promise.resolve(EMPTY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer =
      requestTimeout > 0
        ? setTimeout(() => fail(new RequestTimeoutError(requestTimeout)), Math.max(timeoutMs, 1))
        : undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", fail);
      body.off("aborted", onAborted);
      body.off("close", onClose);
    };
    const fail = (err: unknown) => {
      cleanup();
      body.pause();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) fail(new BodyTooLargeError(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size));
    };
    const onAborted = () => fail(new Error("the client closed the request"));
    const onClose = () => {
      if (!body.readableEnded) onAborted();
    };
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", fail);
    body.on("aborted", onAborted);
    body.on("close", onClose);
  });
}
