import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { encodeFrame, FrameKind, lastTokenNumber } from "../protocol/index.js";
import { type Publish, ServerExchange } from "./exchange.js";

/** The acknowledgement: a heartbeat (credit 0); the same bytes every time. */
const ACK = encodeFrame(FrameKind.Credit, 0);

/**
 * The open exchanges of one instance, and the one wildcard subscription `<inbox>.*` that their
 * callers' frames arrive on. An unref'd interval sends heartbeats and gives up on silent callers; it
 * runs only while exchanges are open.
 */
export class OpenExchanges {
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #publish: Publish;
  readonly #open = new Map<number, ServerExchange>();
  readonly #release = (ex: ServerExchange) => this.#remove(ex);
  readonly #idle: number;
  readonly #gone: ((ex: ServerExchange, reason: Error) => void) | undefined;
  #seq = 0;
  /** Exchanges to acknowledge at the end of this event-loop turn (see {@link acknowledge}). */
  #acks: ServerExchange[] = [];
  #timer: NodeJS.Timeout | undefined;
  #tick = 0;

  /**
   * @param idle - how long a streamed body may wait on a caller without heartbeats (ms).
   * @param gone - told when an exchange is abandoned (the caller aborted or went silent, a timeout).
   */
  constructor(
    nc: NatsConnection,
    publish: Publish,
    onError: (err: Error) => void,
    idle: number,
    gone?: (ex: ServerExchange, reason: Error) => void,
  ) {
    this.#gone = gone;
    this.#publish = publish;
    this.#idle = idle;
    this.#inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, msg) => (err ? onError(err) : this.#route(msg)),
    });
  }

  /** Exchanges open now. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Opens an exchange with the caller at `reply`.
   *
   * @param heartbeat - the caller's heartbeat interval (ms), or 0 for none.
   */
  open(reply: string, heartbeat: number): ServerExchange {
    const id = ++this.#seq;
    const ex = new ServerExchange(
      this.#inbox,
      id,
      reply,
      heartbeat,
      this.#publish,
      this.#release,
      this.#idle,
      this.#gone,
    );
    this.#open.set(id, ex);
    // Without a heartbeat the sweep still watches a streamed body for an idle caller (1 s steps).
    this.#watch(heartbeat > 0 ? heartbeat : Math.min(4000, this.#idle));
    return ex;
  }

  /**
   * Acknowledges a request at the end of this event-loop turn (PROTOCOL.md §8.4): a heartbeat that
   * hands over the exchange's subject, unless the request was answered within the turn (its answer
   * says as much) — so a fast request stays one message each way.
   */
  acknowledge(ex: ServerExchange): void {
    if (this.#acks.push(ex) === 1) setImmediate(this.#flushAcks);
  }

  readonly #flushAcks = (): void => {
    const acks = this.#acks;
    this.#acks = [];
    for (const ex of acks) if (!ex.over && !ex.handed) ex.send(ACK, true);
  };

  /** Aborts every open exchange and stops listening. */
  close(reason: Error): void {
    for (const ex of [...this.#open.values()]) ex.abort(reason, true);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sub.unsubscribe();
  }

  #route(msg: Msg): void {
    const subject = msg.subject;
    this.#open.get(lastTokenNumber(subject))?.deliver(msg);
  }

  #remove(ex: ServerExchange): void {
    if (this.#open.get(ex.id) === ex) this.#open.delete(ex.id);
  }

  #watch(heartbeat: number): void {
    const tick = Math.max(10, Math.min(250, heartbeat >> 2));
    if (this.#timer && tick >= this.#tick) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#tick = tick;
    // The interval stops itself on a sweep that finds nothing open, not on every close: at one
    // request at a time, starting and stopping it per request would cost more than the sweep.
    this.#timer = setInterval(() => {
      if (this.#open.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#tick = 0;
        return;
      }
      const now = performance.now();
      for (const ex of this.#open.values()) ex.tick(now);
    }, tick);
    this.#timer.unref();
  }
}
