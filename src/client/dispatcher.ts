import { Readable } from "node:stream";
import { Dispatcher, errors } from "undici";
import { ConnectionSource } from "../connect/index.js";
import {
  assertInstanceId,
  ClosedError,
  type HeaderList,
  isHopByHop,
  serviceFromHost,
  TimeoutError,
  type WireRequest,
} from "../protocol/index.js";
import { CallGuard } from "../traffic/call-guard.js";
import { callService } from "./call.js";
import { CallerTally } from "./caller-tally.js";
import { ClientEjection } from "./client-ejection.js";
import { asCallTimeout, connectWithin } from "./connecting.js";
import { DEFAULT_SUFFIXES, DEFAULT_TIMEOUT, type FetchOptions } from "./fetch.js";
import { type HandlerSink, toSink } from "./undici-handler.js";

/** undici's default `headersTimeout` and `bodyTimeout` (Agent and Client options), in milliseconds. */
const UNDICI_TIMEOUT = 300_000;

/**
 * undici's dispatch options, and the instance that must answer (PROTOCOL.md §10): undici's
 * `request(url, { dispatcher, instance })` and `dispatcher.request({ ..., instance })` pass it through
 * (its `fetch` does not). Gone: `NoRespondersError` (503) at once, never retried on another instance.
 *
 * @example
 * ```ts
 * const { body } = await request("http://weather/cache/stats", { dispatcher, instance: "hx2Kq0l1eDzNaBvVQhTz5A" } as MeshDispatchOptions);
 * ```
 */
export interface MeshDispatchOptions extends Dispatcher.DispatchOptions {
  /** The answering instance's id (`mesh-instance`), `[A-Za-z0-9_-]`. */
  instance?: string;
}

/**
 * Options of {@link MeshDispatcher}: {@link createFetch}'s, and undici's two timeouts.
 *
 * @example
 * ```ts
 * import { request } from "undici";
 * const dispatcher = new MeshDispatcher({ timeout: 10_000, headersTimeout: 10_000, bodyTimeout: 60_000 });
 * const { statusCode, body } = await request("http://weather/forecast", { dispatcher });
 * ```
 */
export interface DispatcherOptions extends FetchOptions {
  /**
   * Time to wait for the response head, in milliseconds, as undici's Agent and Client option
   * (default 300 000; 0 disables it); a request's own `headersTimeout` overrides it. When it is
   * shorter than `timeout` and runs out first, the request fails with undici's
   * `HeadersTimeoutError` (`UND_ERR_HEADERS_TIMEOUT`); `timeout` still bounds the wait either way.
   */
  headersTimeout?: number;
  /**
   * Longest silence between two chunks of a streamed response body, in milliseconds, as undici's
   * option (default 300 000; 0 disables it); a request's own `bodyTimeout` overrides it. When it
   * runs out the request fails with undici's `BodyTimeoutError` (`UND_ERR_BODY_TIMEOUT`) and the
   * stream is cancelled. Time the handler spends paused does not count.
   */
  bodyTimeout?: number;
}

const EMPTY = new Uint8Array(0);

function headerList(headers: Dispatcher.DispatchOptions["headers"]): HeaderList {
  const list: HeaderList = [];
  if (!headers) return list;
  const add = (name: string, value: unknown) => {
    if (value === undefined || isHopByHop(name)) return;
    if (Array.isArray(value)) for (const v of value) list.push(name, String(v));
    else list.push(name, String(value));
  };
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === "function") {
    for (const [name, value] of headers as Iterable<[string, string]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  return list;
}

/** A Readable or async iterable body, streamed to the instance as it is produced (PROTOCOL.md §8). */
function bodyStream(body: AsyncIterable<string | Uint8Array>): ReadableStream<Uint8Array> {
  const it = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(typeof value === "string" ? Buffer.from(value) : value);
    },
    async cancel(reason) {
      await it.return?.(reason);
      if (body instanceof Readable) body.destroy();
    },
  });
}

async function bodyOf(
  body: Dispatcher.DispatchOptions["body"],
): Promise<{ bytes: Uint8Array; stream?: ReadableStream<Uint8Array> }> {
  if (body === undefined || body === null) return { bytes: EMPTY };
  if (typeof body === "string") return { bytes: Buffer.from(body, "utf8") };
  if (body instanceof Uint8Array) return { bytes: body };
  if (
    body instanceof Readable ||
    typeof (body as unknown as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function"
  ) {
    return { bytes: EMPTY, stream: bodyStream(body as unknown as AsyncIterable<string | Uint8Array>) };
  }
  // FormData and other body types: let the platform serialise them as fetch would.
  return { bytes: new Uint8Array(await new Response(body as BodyInit).arrayBuffer()) };
}

function pathWithQuery(path: string, query: Record<string, unknown> | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const item of v) params.append(k, String(item));
    else if (v !== undefined && v !== null) params.append(k, String(v));
  }
  const qs = params.toString();
  if (!qs) return path;
  return `${path}${path.includes("?") ? "&" : "?"}${qs}`;
}

/**
 * Hands a streamed body to the handler piece by piece, waiting while the handler has paused. With a
 * `bodyTimeout` (ms, 0 for none), a read that waits longer cancels the stream and rejects with
 * undici's `BodyTimeoutError`.
 */
async function pump(
  stream: ReadableStream<Uint8Array>,
  sink: HandlerSink,
  signal: AbortSignal,
  bodyTimeout: number,
): Promise<void> {
  const reader = stream.getReader();
  const stop = () => reader.cancel(signal.reason).catch(() => undefined);
  signal.addEventListener("abort", stop, { once: true });
  let idle: NodeJS.Timeout | undefined;
  let timedOut: Error | undefined;
  const expire = () => {
    timedOut = new errors.BodyTimeoutError();
    reader.cancel(timedOut).catch(() => undefined);
  };
  try {
    for (;;) {
      await sink.resumed();
      if (signal.aborted) return;
      // One timer for the body, re-armed per read; none while the handler is paused.
      if (bodyTimeout > 0) idle = idle === undefined ? setTimeout(expire, bodyTimeout) : idle.refresh();
      const { done, value } = await reader.read();
      if (timedOut !== undefined) throw timedOut;
      if (done) return;
      if (!sink.data(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) {
        clearTimeout(idle);
        idle = undefined;
      }
    }
  } finally {
    clearTimeout(idle);
    signal.removeEventListener("abort", stop);
  }
}

/**
 * An undici `Dispatcher` that sends requests over NATS (the RoundTripper of nats-roundtripper):
 * code that passes a dispatcher to undici's `request`, `fetch` or an `Agent`-taking client goes over
 * NATS unchanged. The origin's host names the service.
 *
 * @example
 * ```ts
 * import { request } from "undici";
 * const dispatcher = new MeshDispatcher();
 * const { statusCode, body } = await request("http://weather.nats/city?q=london", { dispatcher });
 * await dispatcher.close();
 * ```
 */
export class MeshDispatcher extends Dispatcher {
  readonly #source: ConnectionSource;
  readonly #suffixes: readonly string[];
  readonly #timeout: number;
  readonly #guard: CallGuard;
  readonly #heartbeat: number | undefined;
  readonly #window: number | undefined;
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  readonly #tally: CallerTally | undefined;
  readonly #ejection: ClientEjection | undefined;
  #closed = false;

  /** @param options - a connection (`nc`) or connection options; NATS_* environment otherwise. */
  constructor(options: DispatcherOptions = {}) {
    super();
    this.#source = new ConnectionSource(options);
    this.#suffixes = options.suffixes ?? DEFAULT_SUFFIXES;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#guard = new CallGuard(options);
    this.#heartbeat = options.heartbeat;
    this.#window = options.window;
    this.#headersTimeout = options.headersTimeout ?? UNDICI_TIMEOUT;
    this.#bodyTimeout = options.bodyTimeout ?? UNDICI_TIMEOUT;
    this.#tally = options.callerReports ? new CallerTally("dispatcher", options.callerReports) : undefined;
    this.#ejection = ClientEjection.of(options.eject);
  }

  /** Starts one request; the handler gets the response. */
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const sink = toSink(handler);
    const controller = new AbortController();
    sink.start((reason) => controller.abort(reason ?? new Error("request aborted")));
    if (this.#closed) {
      sink.error(new ClosedError("MeshDispatcher"));
      return false;
    }
    this.#run(options, controller.signal)
      .then(async (res) => {
        if (controller.signal.aborted) return;
        sink.headers(res.status, res.headers, res.statusText);
        if (res.stream !== undefined) {
          if (options.method === "HEAD") await res.stream.cancel();
          else await pump(res.stream, sink, controller.signal, options.bodyTimeout ?? this.#bodyTimeout);
        } else if (res.body.byteLength > 0 && options.method !== "HEAD") {
          sink.data(Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength));
        }
        if (!controller.signal.aborted) sink.end();
      })
      .catch((err: Error) =>
        sink.error(controller.signal.aborted ? (controller.signal.reason as Error) : err),
      );
    return true;
  }

  async #run(options: Dispatcher.DispatchOptions, signal: AbortSignal) {
    const origin = new URL(String(options.origin));
    const service = serviceFromHost(origin.hostname, this.#suffixes);
    const named = (options as MeshDispatchOptions).instance;
    if (named !== undefined) assertInstanceId(named);
    const body = await bodyOf(options.body);
    const request: WireRequest = {
      method: options.method,
      path: pathWithQuery(options.path, options.query),
      headers: headerList(options.headers),
      body: body.bytes,
      stream: body.stream,
    };
    // undici's headersTimeout and natsmesh's timeout both bound the wait for the head: the shorter decides.
    const headersTimeout = options.headersTimeout ?? this.#headersTimeout;
    const byHeaders = headersTimeout > 0 && (this.#timeout <= 0 || headersTimeout < this.#timeout);
    const deadline = byHeaders ? headersTimeout : this.#timeout;
    try {
      let ready = this.#source.ready;
      let timeout = deadline;
      if (ready === undefined) {
        const started = performance.now();
        ready = await connectWithin(this.#source, service, deadline, signal);
        if (deadline > 0) timeout = Math.max(1, Math.floor(deadline - (performance.now() - started)));
      }
      const { nc, prefix } = ready;
      const instance = (options as MeshDispatchOptions).instance;
      const tally = this.#tally;
      const ejection = instance === undefined && request.stream === undefined ? this.#ejection : undefined;
      const call = (t: number, s: AbortSignal | undefined, resendable: boolean) => {
        const to = (named: string | undefined) =>
          callService(nc, service, request, {
            prefix,
            timeout: t,
            signal: s,
            heartbeat: this.#heartbeat,
            window: this.#window,
            resendable,
            instance: named,
          });
        return ejection ? ejection.route(nc, prefix, service, to) : to(instance);
      };
      const attempt = tally
        ? (t: number, s: AbortSignal | undefined, resendable: boolean) =>
            tally.attempt(service, call(t, s, resendable))
        : call;
      const head =
        instance === undefined
          ? this.#guard.run(service, request, timeout, signal, attempt)
          : this.#guard.runPinned(service, request, timeout, signal, attempt);
      const answer = timeout === deadline ? head : asCallTimeout(head, deadline);
      return await (tally ? tally.call(nc, service, answer) : answer);
    } catch (err) {
      if (byHeaders && err instanceof TimeoutError) throw new errors.HeadersTimeoutError();
      throw err;
    }
  }

  /** Closes the NATS connection if this dispatcher opened it. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#closed = true;
    this.#ejection?.close();
    const tally = this.#tally;
    const done = tally ? tally.stop().then(() => this.#source.close()) : this.#source.close();
    if (callback) {
      done.then(callback, callback);
      return;
    }
    return done;
  }

  /** Same as {@link MeshDispatcher.close}: calls in flight fail when the connection closes. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === "function" ? a : b;
    return callback ? this.close(callback) : this.close();
  }
}
