import type { NatsConnection } from "@nats-io/nats-core";

/**
 * Coalesces publishes made during one turn of the event loop into one socket write.
 *
 * nats.js flushes its outbound buffer in a microtask after the first publish of a burst, so requests
 * that arrive in separate I/O callbacks (one per HTTP connection at the gateway) each cost a write
 * syscall (BENCHMARKS.md, "Measured reasons for fast paths").
 * Deferring the publishes to `setImmediate` — the check phase of the same loop turn, right after the
 * I/O callbacks — lets all of that turn's messages leave in one write, at the cost of a few
 * microseconds of latency. Where requests come in bursts from one callback (a fetch client reading
 * replies) nats.js already coalesces them and this only adds work, so callers opt in per publish.
 */
export class PublishBatcher {
  readonly #nc: NatsConnection;
  #queue: Array<Pending> = [];
  #scheduled = false;

  /** @param nc - the connection to publish on. */
  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  /**
   * Queues a message for this loop turn's batch.
   *
   * @param onError - called if nats.js refuses the message when the batch is sent (closed connection,
   *   max_payload); the error is never thrown to the caller, which has already returned.
   */
  publish(
    subject: string,
    payload: Uint8Array,
    reply: string | undefined,
    onError: (err: unknown) => void,
  ): void {
    this.#queue.push({ subject, payload, reply, onError });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Resolves once every message queued so far has been handed to nats.js. */
  sent(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => setImmediate(resolve));
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (const m of queue) {
      try {
        this.#nc.publish(m.subject, m.payload, m.reply === undefined ? undefined : { reply: m.reply });
      } catch (err) {
        m.onError(err);
      }
    }
  };
}

interface Pending {
  subject: string;
  payload: Uint8Array;
  reply: string | undefined;
  onError: (err: unknown) => void;
}

const batchers = new WeakMap<NatsConnection, PublishBatcher>();

/** The shared {@link PublishBatcher} of a connection. */
export function batcherFor(nc: NatsConnection): PublishBatcher {
  let b = batchers.get(nc);
  if (!b) {
    b = new PublishBatcher(nc);
    batchers.set(nc, b);
  }
  return b;
}
