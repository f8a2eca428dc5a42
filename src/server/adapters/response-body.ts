/**
 * Reads a `Response` body whole. A handler's `new Response("text")` keeps its source in undici's
 * internal state; taking it from there skips the ReadableStream round trip, which cost about 4.5 µs
 * per request here (bench/run.ts). Any other body (a stream, a used or locked one, another undici's
 * Response) takes the standard `arrayBuffer()` path.
 */
const EMPTY = new Uint8Array(0);

interface BodyState {
  body?: { source?: unknown; stream?: ReadableStream | null } | null;
}

let stateSymbol: symbol | null | undefined;

function stateOf(res: Response): BodyState | undefined {
  if (stateSymbol === undefined) {
    stateSymbol = Object.getOwnPropertySymbols(res).find((s) => s.description === "state") ?? null;
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

/** The bytes of `res`'s body; empty for a null body. */
export async function readBody(res: Response): Promise<Uint8Array> {
  if (res.body === null) return EMPTY;
  if (!res.bodyUsed) {
    const body = stateOf(res)?.body;
    const source = body?.source;
    if (body && !body.stream?.locked) {
      if (typeof source === "string") return Buffer.from(source, "utf8");
      if (source instanceof Uint8Array) return source;
    }
  }
  return new Uint8Array(await res.arrayBuffer());
}
