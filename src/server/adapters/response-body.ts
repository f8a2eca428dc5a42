/**
 * Takes a handler's `Response` body for the wire. A `new Response("text")` keeps its source in
 * undici's internal state; taking it from there skips a ReadableStream round trip per answer
 * (BENCHMARKS.md, "Measured reasons for fast paths"). Any other body (a stream, another undici's
 * Response) is handed over as its stream, read as it is produced.
 */
import { Buffer } from "node:buffer";
import { TAKE_BYTES } from "../../protocol/index.js";

const EMPTY = new Uint8Array(0);

interface BodyState {
  body?: { source?: unknown; stream?: ReadableStream | null } | null;
}

/**
 * The platform Response's internal state symbol, read off a Response made here (not off the first
 * one a handler returns: that may be a subclass without it, such as the client's `MeshResponse`).
 */
const PLATFORM_RESPONSE: typeof Response = globalThis.Response;
let stateSymbol: symbol | null | undefined;

function stateOf(res: Response): BodyState | undefined {
  if (stateSymbol === undefined) {
    const probe = new PLATFORM_RESPONSE(null);
    stateSymbol = Object.getOwnPropertySymbols(probe).find((s) => s.description === "state") ?? null;
  }
  if (stateSymbol === null) return undefined;
  const state = (res as unknown as Record<symbol, unknown>)[stateSymbol];
  return typeof state === "object" && state !== null ? (state as BodyState) : undefined;
}

/**
 * The body of `res` as the server sends it: the bytes, when the handler gave a string or bytes (no
 * stream is involved), else the body's stream, read as it is produced.
 */
export function takeBody(res: Response): Uint8Array | ReadableStream<Uint8Array> {
  // A Response fetched over the mesh (a proxy) hands over its bytes.
  const take = (res as { [TAKE_BYTES]?: () => Uint8Array | undefined })[TAKE_BYTES];
  if (take !== undefined) {
    const bytes = take.call(res);
    if (bytes !== undefined) return bytes;
  }
  // The internal state first: the public `body`/`bodyUsed` getters cost more than the whole check
  // (measured in bench/profile.ts). A consumed body leaves its stream locked.
  const state = stateOf(res);
  if (state !== undefined) {
    const body = state.body;
    if (body === null || body === undefined) return EMPTY;
    const source = body.source;
    if (!body.stream?.locked) {
      if (typeof source === "string") return Buffer.from(source, "utf8");
      if (source instanceof Uint8Array) return source;
    }
  }
  if (res.body === null) return EMPTY;
  if (res.bodyUsed || res.body.locked) throw new TypeError("the handler's Response body was already used");
  return res.body as ReadableStream<Uint8Array>;
}

/** What {@link soon} resolves to. */
const SOON = Symbol("soon");

/**
 * A promise that resolves after two microtask turns: long enough for a read of a body stream whose
 * bytes are all there (a platform Response's string, bytes or `Response.json()`: undici hands out its
 * one chunk, and then its end, one turn after being asked) to settle first; no timer is involved.
 */
function soon(): Promise<typeof SOON> {
  return Promise.resolve(SOON)
    .then((v): typeof SOON => v)
    .then((v): typeof SOON => v);
}

/**
 * A Response body stream as the server sends it: its bytes, when the stream has given one chunk and
 * ended within a couple of microtask turns (a platform Response over a string, bytes or
 * `Response.json()`, whose source cannot be read where undici keeps it in private fields: undici 7+,
 * Node 24, 26); else a stream that gives what was read, then the rest as it is produced. Never waits
 * for a stream that is not ready (an SSE answer's head goes at once).
 *
 * @throws the body stream's error, when its first reads fail at once
 */
export async function settleBody(
  body: ReadableStream<Uint8Array>,
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const head: Uint8Array[] = [];
  let ended = false;
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined = reader.read();
  // At most two reads: the one chunk, then the end.
  while (pending !== undefined) {
    const result = await Promise.race([pending, soon()]);
    if (result === SOON) break;
    pending = undefined;
    if (result.done) ended = true;
    else head.push(result.value);
    if (!ended && head.length === 1) pending = reader.read();
  }
  if (ended && head.length === 0) return EMPTY;
  if (ended && head.length === 1 && head[0] instanceof Uint8Array) return head[0];
  pending?.catch(() => undefined); // its error reaches the new stream's reader through pull
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        for (const chunk of head) controller.enqueue(chunk);
        if (ended) controller.close();
      },
      async pull(controller) {
        const next = await (pending ?? reader.read());
        pending = undefined;
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * The bytes of `res`'s body, read whole; empty for a null body.
 *
 * @throws TypeError when the body was already used.
 */
export async function readResponseBytes(res: Response): Promise<Uint8Array> {
  const body = takeBody(res);
  return body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
}
