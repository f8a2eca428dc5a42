/**
 * A queue-group membership that can step out while its instance is saturated, so nats-server
 * gives new requests to members with capacity; nothing already routed to it is dropped.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";

/** Receives the messages of a {@link QueueGate}. */
export type GateCallback = (err: Error | null, msg: Msg) => void;

/**
 * A queue subscription that can be paused and resumed. Pausing drains the subscription: the
 * server stops routing to it once its UNSUB arrives, and every message routed before that is still
 * delivered to the callback (so its owner queues it; nothing is lost). Resuming subscribes again.
 * While every member of a queue group is paused, callers get "no responders" at once, which the
 * client's retry policy turns into waiting until its deadline.
 *
 * Wire it to a `ConcurrencyLimiter`'s saturation callback:
 *
 * @example
 * ```ts
 * let gate: QueueGate;
 * const limiter = new ConcurrencyLimiter(8, (saturated) => (saturated ? gate.pause() : gate.resume()));
 * gate = new QueueGate(nc, "mesh.weather.*", "weather", (err, msg) => { if (!err) limiter.runWithRelease((release) => handle(msg, release)); });
 * // ...
 * await gate.drain();
 * ```
 */
export class QueueGate {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #queue: string;
  readonly #callback: GateCallback;
  #sub: Subscription | undefined;
  readonly #draining = new Set<Promise<void>>();
  #closed = false;
  #pauses = 0;

  /**
   * Subscribes at once.
   *
   * @param nc - the connection
   * @param subject - the subject, e.g. `mesh.weather.*`
   * @param queue - the queue group, e.g. `weather`
   * @param callback - gets every message (and subscription errors)
   * @throws what `nc.subscribe` throws (a closed connection)
   * @example
   * ```ts
   * const gate = new QueueGate(nc, "mesh.weather.*", "weather", onMessage);
   * ```
   */
  constructor(nc: NatsConnection, subject: string, queue: string, callback: GateCallback) {
    this.#nc = nc;
    this.#subject = subject;
    this.#queue = queue;
    this.#callback = callback;
    this.#sub = this.#subscribe();
  }

  /** Whether the gate is out of the queue group now. */
  get paused(): boolean {
    return this.#sub === undefined;
  }

  /** How often it stepped out so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /** Steps out of the queue group (messages already routed here still arrive). No-op when paused. */
  pause(): void {
    if (this.#sub && !this.#closed) this.#pauses++;
    this.#leave();
  }

  #leave(): void {
    const sub = this.#sub;
    if (!sub || this.#nc.isClosed()) return;
    this.#sub = undefined;
    const done = sub.drain().catch(() => undefined);
    this.#draining.add(done);
    done.finally(() => this.#draining.delete(done));
  }

  /** Joins the queue group again. No-op when not paused or drained. */
  resume(): void {
    if (this.#sub || this.#closed || this.#nc.isClosed()) return;
    this.#sub = this.#subscribe();
  }

  /**
   * Leaves the queue group for good; resolves once every message routed here was delivered.
   *
   * @returns when the subscriptions are drained
   * @example
   * ```ts
   * await gate.drain();
   * ```
   */
  async drain(): Promise<void> {
    this.#closed = true;
    this.#leave();
    await Promise.all([...this.#draining]);
  }

  #subscribe(): Subscription {
    return this.#nc.subscribe(this.#subject, { queue: this.#queue, callback: this.#callback });
  }
}
