/**
 * Scatter-gather: one request to every instance of a service, their answers as they come
 * (PROTOCOL.md §10), with the request-many semantics of NATS (ADR-47, nats.js `requestMany`).
 *
 * @module
 */
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { ConnectionSource } from "../connect/index.js";
import {
  type CallTarget,
  decodeResponse,
  ErrorCode,
  encodeRequest,
  everyRequestSubject,
  Kind,
  kindOf,
  type MeshError,
  PayloadTooLargeError,
  serviceFromHost,
} from "../protocol/index.js";
import { readSmall } from "../stream/index.js";
import { connectWithin } from "./connecting.js";
import { toResponse } from "./from-wire.js";
import { muxFor, type PendingCall, type RequestMux } from "./mux.js";
import { toWire } from "./to-wire.js";

/** Default of {@link FetchAllInit.stall}: the gather ends this long after the last answer (nats.js's stall default). */
export const DEFAULT_STALL = 300;
/** nats-server's default max_payload, for a connection that has not said its own yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * `RequestInit` plus the request-many limits of a call to every instance.
 *
 * @example
 * ```ts
 * const init: FetchAllInit = { method: "GET", timeout: 2_000, max: 10, stall: 300 };
 * for await (const res of fetch.all("http://weather/cache/stats", init)) console.log(await res.json());
 * ```
 */
export interface FetchAllInit extends RequestInit {
  /**
   * Total wait in milliseconds, from the call (default: the client's `timeout`, 30 000): the gather
   * ends then, however many answers came. 0: no total limit (`stall`, `max` or the signal end it).
   */
  timeout?: number;
  /** End once this many answers came (default 0: no count limit). */
  max?: number;
  /**
   * End this many milliseconds after the last answer when no other came (default 300, as nats.js's
   * request-many stall; 0 turns it off). Before the first answer only `timeout` applies.
   */
  stall?: number;
}

/** What {@link fetchAllWith} needs of its client. */
export interface FetchAllParts {
  /** The client's connection. */
  source: ConnectionSource;
  /** Host suffixes stripped to find the service. */
  suffixes: readonly string[];
  /** The client's default total wait. */
  timeout: number;
}

/**
 * Sends one request to every instance of the URL's service (`<prefix>.<service>.$ALL.<method>`; no
 * queue group) and yields each instance's answer as a `Response` (its `mesh-instance` names the
 * instance). It ends on the first of: the total wait, `max` answers, `stall` after the last answer,
 * the signal's abort — or at once when no instance listens (NATS's no-responders). Ending is not an
 * error: an iteration just stops. The request is sent when the iteration starts.
 *
 * Each request and each answer is one NATS message: the request body must fit in the server's
 * `max_payload` (else {@link PayloadTooLargeError}, 413, before anything is sent), and an instance
 * whose answer does not fit answers 500 `NM_ERR_PAYLOAD_TOO_LARGE` instead (PROTOCOL.md §5).
 * Redirects are not followed. An answer that does not follow the protocol is yielded as a 502 with
 * `mesh-error: NM_ERR_BAD_RESPONSE`, so one broken instance does not end the gather.
 *
 * @throws (from the iteration) {@link InvalidServiceError} for a URL that names no service,
 *   {@link PayloadTooLargeError}, {@link ConnectionClosedError} when the connection closes
 *   meanwhile, {@link PermissionDeniedError} when NATS refuses the publish; RangeError for a
 *   negative or fractional `timeout`, `max` or `stall`.
 */
export async function* fetchAllWith(
  parts: FetchAllParts,
  input: string | URL | Request,
  init: FetchAllInit = {},
): AsyncGenerator<Response, void, undefined> {
  const total = limit("timeout", init.timeout ?? parts.timeout);
  const stall = limit("stall", init.stall ?? DEFAULT_STALL);
  const max = limit("max", init.max ?? 0);
  const started = performance.now();
  let laid: EveryRequest | undefined;
  try {
    laid = await layOut(parts, input, init, total);
  } catch (err) {
    // Aborted while the connection was still opening: an abort ends the gather, as later.
    const signal = init.signal ?? (input instanceof Request ? input.signal : undefined);
    if (signal?.aborted && err === signal.reason) return;
    throw err;
  }
  if (laid === undefined) return;
  const { nc, subject, head, target, url, method, signal } = laid;
  const left = total > 0 ? Math.max(1, Math.floor(total - (performance.now() - started))) : 0;
  const gather = new Gather(muxFor(nc), subject, head, target, { total: left, stall, max, signal });
  try {
    for (;;) {
      const answer = await gather.next();
      if (answer === undefined) return;
      yield answerOf(answer, url, method);
    }
  } finally {
    gather.close();
  }
}

/**
 * Sends an event to every instance of the URL's service: the request goes to
 * `<prefix>.<service>.$ALL.<method>` without a reply subject, every instance runs it, and none
 * answers (PROTOCOL.md §10). Resolves once the NATS server has the message (a flush), which says
 * nothing of the instances: use {@link fetchAllWith} to hear from them.
 *
 * @throws {@link InvalidServiceError}, {@link PayloadTooLargeError} (the request must fit in one
 *   message), {@link ConnectionClosedError}; the signal's reason when it aborts first.
 */
export async function broadcastWith(
  parts: FetchAllParts,
  input: string | URL | Request,
  init: RequestInit & { timeout?: number } = {},
): Promise<void> {
  const total = limit("timeout", init.timeout ?? parts.timeout);
  const laid = await layOut(parts, input, init, total);
  if (laid === undefined)
    throw (init.signal ?? (input instanceof Request ? input.signal : undefined))?.reason;
  const { nc, subject, head } = laid;
  nc.publish(subject, head);
  await nc.flush();
}

/** A request to every instance, laid out as one message; undefined when its signal aborted first. */
interface EveryRequest {
  nc: NatsConnection;
  subject: string;
  head: Uint8Array;
  target: CallTarget;
  url: string;
  method: string;
  signal: AbortSignal | undefined;
}

async function layOut(
  parts: FetchAllParts,
  input: string | URL | Request,
  init: RequestInit,
  total: number,
): Promise<EveryRequest | undefined> {
  const started = performance.now();
  const laid = toWire(input, init);
  const call = laid instanceof Promise ? await laid : laid;
  const { request, signal } = call;
  const service = serviceFromHost(call.hostname, parts.suffixes);
  if (signal?.aborted) return undefined;
  const { nc, prefix } = parts.source.ready ?? (await connectWithin(parts.source, service, total, signal));
  const subject = everyRequestSubject(prefix, service, request.method);
  const target = { service, subject };
  const room = nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  let body = request.body;
  if (request.stream !== undefined) {
    const left = total > 0 ? Math.max(1, total - (performance.now() - started)) : 2 ** 31 - 1;
    const read = await readSmall(request.stream, room, left);
    if (read.rest !== undefined) {
      read.rest.cancel();
      throw new PayloadTooLargeError(room + 1, room, {
        ...target,
        cause: new Error("a request to every instance must fit in one message"),
      });
    }
    body = read.whole;
  }
  // No mesh-window and no mesh-heartbeat: every instance answers in exactly one message.
  const head = encodeRequest(
    { method: request.method, path: request.path, headers: request.headers, body },
    false,
  );
  if (head.byteLength > room) throw new PayloadTooLargeError(head.byteLength, room, target);
  return { nc, subject, head, target, url: call.url, method: request.method, signal };
}

function limit(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`fetchAll: ${name} must be an integer ≥ 0, got ${value}`);
  return value;
}

/** An answer as the iteration yields it: a Response, or a 502 for one that broke the protocol. */
function answerOf(answer: Uint8Array, url: string, method: string): Response {
  try {
    const res = decodeResponse(answer);
    if (res.streamed) return badAnswer("a streamed answer to a request that asked for none");
    if (res.status < 200) return badAnswer(`status ${res.status} cannot be a final response`);
    return toResponse(res, url, method);
  } catch (err) {
    return badAnswer((err as Error).message);
  }
}

function badAnswer(why: string): Response {
  const code = ErrorCode.BadResponse;
  return Response.json(
    { error: `bad answer from an instance: ${why}`, code, status: 502 },
    { status: 502, headers: { "mesh-error": code } },
  );
}

/** Settings of one {@link Gather}. */
interface GatherLimits {
  total: number;
  stall: number;
  max: number;
  signal: AbortSignal | undefined;
}

/**
 * The mux route of one call to every instance: takes every message to its reply subject until a
 * limit ends it, and hands them out in arrival order.
 */
class Gather implements PendingCall {
  readonly target: CallTarget;
  readonly heartbeat = 0;
  readonly watching = false;
  heard = true;
  heardAt = 0;
  readonly #mux: RequestMux;
  readonly #limits: GatherLimits;
  readonly #reply: string;
  /** Answers (payloads) not yet handed out. */
  readonly #queue: Uint8Array[] = [];
  #failure: unknown;
  #waiter: (() => void) | undefined;
  #ended = false;
  #answers = 0;
  #total: NodeJS.Timeout | undefined;
  #stall: NodeJS.Timeout | undefined;
  readonly #onAbort = () => this.#end();

  constructor(mux: RequestMux, subject: string, head: Uint8Array, target: CallTarget, limits: GatherLimits) {
    this.#mux = mux;
    this.target = target;
    this.#limits = limits;
    this.#reply = mux.open(this);
    if (limits.total > 0) this.#total = setTimeout(() => this.#end(), limits.total);
    limits.signal?.addEventListener("abort", this.#onAbort, { once: true });
    mux.publish(subject, head, this.#reply, false, (err) => this.fail(err as MeshError));
  }

  deliver(msg: Msg): void {
    if (this.#ended) return;
    const data = msg.data;
    if (data.byteLength === 0 && msg.headers?.code === 503) {
      // No responders: no instance listens.
      this.#end();
      return;
    }
    const kind = kindOf(data);
    // Frames of §8 are never asked for here; an abort or a stray credit is no answer.
    if (kind !== Kind.Response && kind !== Kind.StreamResponse && kind !== 0) return;
    this.#queue.push(data);
    this.#answers++;
    if (this.#limits.max > 0 && this.#answers >= this.#limits.max) {
      this.#end();
      return;
    }
    if (this.#limits.stall > 0) {
      clearTimeout(this.#stall);
      this.#stall = setTimeout(() => this.#end(), this.#limits.stall);
    }
    this.#wake();
  }

  fail(err: MeshError): void {
    if (this.#ended) return;
    this.#failure = err;
    this.#end();
  }

  /** The next answer, or undefined once the gather ended and every answer was handed out. */
  async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      const answer = this.#queue.shift();
      if (answer !== undefined) return answer;
      if (this.#ended) {
        if (this.#failure !== undefined) {
          const err = this.#failure;
          this.#failure = undefined;
          throw err;
        }
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  /** Ends the gather (the iteration stopped early, or finished). */
  close(): void {
    this.#end();
    this.#queue.length = 0;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#total);
    clearTimeout(this.#stall);
    this.#limits.signal?.removeEventListener("abort", this.#onAbort);
    this.#mux.release(this.#reply, this);
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
