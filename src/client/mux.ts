import {
  createInbox,
  type Msg,
  type NatsConnection,
  PermissionViolationError,
  type Subscription,
} from "@nats-io/nats-core";
import { batcherFor, type PublishBatcher } from "../connect/publish-batcher.js";
import {
  type CallTarget,
  ConnectionClosedError,
  type MeshError,
  NoRespondersError,
  PermissionDeniedError,
  TimeoutError,
} from "../protocol/index.js";
import { type PermissionWatch, watchPublishDenials } from "./permission-watch.js";

/** One call in flight. */
interface Pending {
  resolve(data: Uint8Array): void;
  reject(err: unknown): void;
  target: CallTarget;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Options of one {@link RequestMux.request} call. */
export interface MuxRequestOptions {
  /** Deadline in milliseconds; 0 or less means none. */
  timeout: number;
  /** Aborts the wait (the request may still reach the service). */
  signal?: AbortSignal | undefined;
  /** Names the service and subject in errors. */
  target: CallTarget;
  /**
   * Coalesce this publish with the others of the same event-loop turn (see PublishBatcher). Pays off
   * when requests arrive in separate I/O callbacks (the gateway: one per HTTP connection); costs a
   * little when they come in bursts from one callback, which nats.js already coalesces (measured:
   * fetch bursts lost ~8% with it), so it is off by default.
   */
  batch?: boolean;
}

/**
 * Correlates requests and replies over one wildcard inbox subscription per connection: a request
 * publishes with reply subject `<inbox>.<id>`, the reply is routed back to its caller by `<id>`.
 * Measured in bench/wire: several times cheaper than a subscription per request.
 */
export class RequestMux {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #batcher: PublishBatcher;
  readonly #pending = new Map<string, Pending>();
  /** Fails the calls whose publish NATS refused (see {@link watchPublishDenials}). */
  readonly #denials: PermissionWatch;
  #seq = 0;
  #closed = false;

  /**
   * @param nc - the connection to multiplex; the mux subscribes `<inboxPrefix>.<nuid>.*` on it.
   */
  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#batcher = batcherFor(nc);
    this.#inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => this.#onReply(err, msg) });
    nc.closed().then(() => this.#failAll((t) => new ConnectionClosedError(t)));
    this.#denials = watchPublishDenials(nc, (subject, cause) => {
      for (const [id, p] of this.#pending) {
        if (p.target.subject === subject)
          this.#settle(id, new PermissionDeniedError(p.target, "publish", subject, { cause }));
      }
    });
  }

  /** Number of calls waiting for a reply. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes `payload` to `subject` and resolves with the reply's payload.
   *
   * @throws {@link NoRespondersError} at once when nobody serves the subject.
   * @throws {@link TimeoutError} when no reply came within `timeout`.
   * @throws {@link ConnectionClosedError} when the connection closed first.
   * @throws the signal's reason when `signal` aborts.
   */
  request(subject: string, payload: Uint8Array, options: MuxRequestOptions): Promise<Uint8Array> {
    const { timeout, signal, target } = options;
    if (this.#closed || this.#nc.isClosed()) return Promise.reject(new ConnectionClosedError(target));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = (++this.#seq).toString(36);
    return new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = { resolve, reject, target, timer: undefined, signal, onAbort: undefined };
      if (timeout > 0) {
        p.timer = setTimeout(() => this.#settle(id, new TimeoutError(target, timeout)), timeout);
      }
      if (signal) {
        p.onAbort = () => this.#settle(id, signal.reason);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#pending.set(id, p);
      const reply = `${this.#inbox}.${id}`;
      const onError = (err: unknown) =>
        this.#settle(id, this.#nc.isClosed() ? new ConnectionClosedError(target, { cause: err }) : err);
      if (options.batch) {
        this.#batcher.publish(subject, payload, reply, onError);
      } else {
        try {
          this.#nc.publish(subject, payload, { reply });
        } catch (err) {
          onError(err);
        }
      }
    });
  }

  /** Rejects every pending call and stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub.unsubscribe();
    this.#denials.stop();
    this.#failAll((t) => new ConnectionClosedError(t));
  }

  #onReply(err: Error | null, msg: Msg): void {
    if (err) {
      // The inbox subscription is gone (e.g. a permissions violation): fail what waits, and let the
      // next call build a new mux rather than wait for replies that cannot arrive.
      this.#closed = true;
      this.#denials.stop();
      if (muxes.get(this.#nc) === this) muxes.delete(this.#nc);
      const inbox = `${this.#inbox}.*`;
      this.#failAll((t) =>
        err instanceof PermissionViolationError
          ? new PermissionDeniedError(t, "subscribe", inbox, { cause: err })
          : new ConnectionClosedError(t, { cause: err }),
      );
      return;
    }
    const subject = msg.subject;
    const id = subject.slice(subject.lastIndexOf(".") + 1);
    const data = msg.data;
    if (data.byteLength === 0 && msg.headers?.code === 503) {
      const p = this.#pending.get(id);
      if (p) this.#settle(id, new NoRespondersError(p.target));
      return;
    }
    this.#settle(id, undefined, data);
  }

  #settle(id: string, err: unknown, data?: Uint8Array): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener("abort", p.onAbort);
    if (err === undefined) p.resolve(data!);
    else p.reject(err);
  }

  #failAll(make: (target: CallTarget) => MeshError): void {
    for (const id of [...this.#pending.keys()]) {
      const p = this.#pending.get(id)!;
      this.#settle(id, make(p.target));
    }
  }
}

const muxes = new WeakMap<NatsConnection, RequestMux>();

/** The shared {@link RequestMux} of a connection, created on first use. */
export function muxFor(nc: NatsConnection): RequestMux {
  let mux = muxes.get(nc);
  if (!mux) {
    mux = new RequestMux(nc);
    muxes.set(nc, mux);
  }
  return mux;
}
