/**
 * Reads a public request's body into memory, within the route's size limit and a deadline.
 *
 * @module
 */
import type { Readable } from "node:stream";
import { BadRequestError, BodyTooLargeError, RequestTimeoutError } from "../errors.js";

const EMPTY = new Uint8Array(0);

/**
 * Checks a `Content-Length` against the limit before reading anything.
 *
 * @param contentLength - the header's value, if any
 * @param limit - the route's `maxBody`, in bytes
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
 * const body = await readRequestBody(req, 1024 * 1024, 30_000);
 * ```
 */
export function readRequestBody(
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

/** Bodies announced at most this long are read whole (and can be re-submitted); others stream. */
export const STREAM_BODY_OVER = 1024 * 1024;

/**
 * Whether a public request's body streams to the service instead of being read first: its length is
 * unknown (chunked, or HTTP/2 without `content-length`) or above {@link STREAM_BODY_OVER}.
 */
export function streamsBody(contentLength: string | undefined): boolean {
  return contentLength === undefined || Number(contentLength) > STREAM_BODY_OVER;
}

/**
 * The body as a stream read as the service takes it (the Node stream is paused in between, so a
 * slow service slows the client). It errors with {@link BodyTooLargeError} past `limit` and with
 * {@link RequestTimeoutError} when the whole body has not come within `timeoutMs`; `onError` hears of
 * it too, so the gateway can answer (413, 408) if it has not yet.
 *
 * @param body - the request stream
 * @param limit - the largest body accepted, in bytes
 * @param timeoutMs - time left to receive the body
 * @param requestTimeout - the configured limit, named in the timeout error; 0 for no deadline
 * @param onError - told of a failure of the public side (limit, deadline, client gone)
 * @returns a stream of the body's bytes
 * @example
 * ```ts
 * const stream = bodyStream(req, 50 << 20, 30_000, 30_000, (err) => log(err));
 * ```
 */
export function bodyStream(
  body: Readable,
  limit: number,
  timeoutMs: number,
  requestTimeout: number,
  onError: (err: Error) => void,
): ReadableStream<Uint8Array> {
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let over = false;
  const finish = (err?: Error) => {
    if (over) return;
    over = true;
    if (timer) clearTimeout(timer);
    body.off("data", onData);
    body.off("end", onEnd);
    body.off("error", onFail);
    body.off("aborted", onAborted);
    body.off("close", onClose);
    if (err) {
      body.pause();
      onError(err);
      controller.error(err);
    } else {
      controller.close();
    }
  };
  const onData = (chunk: Buffer) => {
    size += chunk.byteLength;
    if (size > limit) {
      finish(new BodyTooLargeError(limit));
      return;
    }
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) <= 0) body.pause();
  };
  const onEnd = () => finish();
  const onFail = (err: Error) => finish(err);
  const onAborted = () => finish(new Error("the client closed the request"));
  const onClose = () => {
    if (!body.readableEnded) onAborted();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        if (body.readableEnded) {
          over = true;
          c.close();
          return;
        }
        if (requestTimeout > 0)
          timer = setTimeout(() => finish(new RequestTimeoutError(requestTimeout)), Math.max(timeoutMs, 1));
        body.on("data", onData);
        body.on("end", onEnd);
        body.on("error", onFail);
        body.on("aborted", onAborted);
        body.on("close", onClose);
        body.pause();
      },
      pull() {
        body.resume();
      },
      cancel() {
        if (over) return;
        over = true;
        if (timer) clearTimeout(timer);
        body.off("data", onData);
        body.pause();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }),
  );
}
