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

/**
 * The bytes of `res`'s body, read whole; empty for a null body.
 *
 * @throws TypeError when the body was already used.
 */
export async function readResponseBytes(res: Response): Promise<Uint8Array> {
  const body = takeBody(res);
  return body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
}
