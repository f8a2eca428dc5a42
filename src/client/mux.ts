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
  ErrorCode,
  encodeAbort,
  InstanceLostError,
  lastTokenNumber,
  type MeshError,
  PermissionDeniedError,
} from "../protocol/index.js";
import { ServiceLiveness } from "./liveness.js";
import { type PermissionWatch, watchPublishDenials } from "./permission-watch.js";

/**
 * What the mux hands a reply subject's messages to: one call in flight (see call-exchange.ts). The mux
 * routes, watches for silence and fails routes when the connection goes; the route does the rest.
 */
export interface PendingCall {
  /** Takes one message sent to this route's reply subject (called synchronously, in order). */
  deliver(msg: Msg): void;
  /** Ends the route with an error: the connection closed, the inbox was lost, or the peer went silent. */
  fail(err: MeshError): void;
  /** Names the service and subject in errors. */
  readonly target: CallTarget;
  /**
   * Heartbeat interval in ms the peer was asked for, or 0: a route that hears nothing for twice
   * that fails with {@link InstanceLostError}.
   */
  readonly heartbeat: number;
  /**
   * Set when a message arrives (by the mux, on every delivery; true when the route opens). The sweep
   * reads and clears it, stamping {@link PendingCall.heardAt}: no clock read per message.
   */
  heard: boolean;
  /** `performance.now()` of the sweep that last found {@link PendingCall.heard} set (0 until then). */
  heardAt: number;
  /**
   * Whether silence fails the route: false until the service is known to speak §8 (a plain peer
   * sends nothing before its answer, PROTOCOL.md §9).
   */
  readonly watching: boolean;
  /** Called on each sweep of a route with a heartbeat: a chance to send this side's own heartbeat. */
  tick?(now: number): void;
  /** The subject the peer handed over (credit and chunks go there), once known. */
  readonly peer?: string | undefined;
}

/**
 * Correlates requests and replies over one wildcard inbox subscription per connection: a call
 * publishes with reply subject `<inbox>.<id>` and its messages are routed back to it by `<id>`.
 * Cheaper than `nc.request`'s subscription-less request object, timer and stack per call (bench/wire,
 * BENCHMARKS.md "Wire choices").
 */
export class RequestMux {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #batcher: PublishBatcher;
  /** Routes by the number their reply subject ends in (base 36). */
  readonly #routes = new Map<number, PendingCall>();
  /** Fails the calls whose publish NATS refused (see {@link watchPublishDenials}). */
  readonly #denials: PermissionWatch;
  #seq = 0;
  #closed = false;
  #watched = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #tick = 0;
  /** What this connection's calls learnt of each service's liveness signals. */
  readonly liveness = new ServiceLiveness();

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
      for (const route of [...this.#routes.values()]) {
        if (route.target.subject === subject || route.peer === subject)
          route.fail(new PermissionDeniedError(route.target, "publish", subject, { cause }));
      }
    });
  }

  /** Number of calls waiting for a reply or still streaming. */
  get pending(): number {
    return this.#routes.size;
  }

  /** The connection's state: false once it or the mux closed. */
  get usable(): boolean {
    return !this.#closed && !this.#nc.isClosed();
  }

  /**
   * Registers a route and returns its reply subject (`<inbox>.<id>`).
   *
   * @throws {@link ConnectionClosedError} when the connection or the mux is closed.
   */
  open(route: PendingCall): string {
    if (!this.usable) throw new ConnectionClosedError(route.target);
    const id = ++this.#seq;
    this.#routes.set(id, route);
    if (route.heartbeat > 0) this.#watch(route.heartbeat);
    return `${this.#inbox}.${id.toString(36)}`;
  }

  /** Removes the route of a reply subject from {@link RequestMux.open}; later messages to it are dropped. */
  release(reply: string, route: PendingCall): void {
    const id = lastTokenNumber(reply);
    if (this.#routes.get(id) !== route) return;
    this.#routes.delete(id);
    if (route.heartbeat > 0) this.#watched--;
  }

  /**
   * Publishes `payload` to `subject` with a reply subject, at once or batched; a failure goes to
   * `onError` (also when it is thrown synchronously).
   */
  publish(
    subject: string,
    payload: Uint8Array,
    reply: string | undefined,
    batch: boolean | undefined,
    onError: (err: unknown) => void,
  ): void {
    if (batch) {
      this.#batcher.publish(subject, payload, reply, onError);
      return;
    }
    try {
      this.#nc.publish(subject, payload, reply === undefined ? undefined : { reply });
    } catch (err) {
      onError(err);
    }
  }

  /** Fails every route and stops listening. */
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
    const route = this.#routes.get(lastTokenNumber(subject));
    if (route === undefined) {
      // An instance hands over its exchange subject for a call that is over (an acknowledgement
      // after a stall): tell it, so that it does not run a request whose caller has gone.
      if (msg.reply) this.publish(msg.reply, GONE, undefined, false, () => undefined);
      return;
    }
    route.heard = true;
    route.deliver(msg);
  }

  #watch(heartbeat: number): void {
    this.#watched++;
    const tick = Math.max(10, Math.min(250, heartbeat >> 2));
    if (this.#sweeper && tick >= this.#tick) return;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#tick = tick;
    this.#sweeper = setInterval(() => this.#sweep(), tick);
    this.#sweeper.unref();
  }

  #unwatch(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#tick = 0;
  }

  /**
   * Fails routes whose peer was silent for twice its heartbeat; lets the others send their own. A
   * route's silence counts from the sweep that last saw it heard, so it is given up on after two
   * heartbeats and at most two sweep intervals (each a quarter heartbeat, 250 ms at most) more. The
   * interval stops itself when nothing is watched (not on every release: at one call at a time that
   * would start and stop it per call).
   */
  #sweep(): void {
    if (this.#watched <= 0) {
      this.#unwatch();
      return;
    }
    const now = performance.now();
    for (const route of this.#routes.values()) {
      if (route.heartbeat <= 0) continue;
      if (route.heard) {
        route.heard = false;
        route.heardAt = now;
      }
      if (route.watching && now - route.heardAt > 2 * route.heartbeat) {
        route.fail(new InstanceLostError(route.target, Math.round(now - route.heardAt)));
      } else {
        route.tick?.(now);
      }
    }
  }

  #failAll(make: (target: CallTarget) => MeshError): void {
    for (const route of [...this.#routes.values()]) route.fail(make(route.target));
  }
}

/** The abort sent to an instance that speaks to a call which is over. */
const GONE = encodeAbort(ErrorCode.Stream, "the caller is gone");

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
