/**
 * Lean request/reply correlation (variant B and up): one wildcard inbox subscription
 * `_INBOX.<nuid>.*`, pending calls in a Map keyed by a numeric counter (the last reply token),
 * plain nc.publish(subject, payload, { reply }). Timeouts come from one coarse sweeper interval
 * instead of a setTimeout + Error (stack capture) + Promise.race per request as in nc.request().
 */
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  deadline: number;
}

export class LeanMux {
  private readonly prefix: string;
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5000,
  ) {
    this.prefix = `${createInbox()}.`;
    const prefixLen = this.prefix.length;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err) return;
        const id = Number(msg.subject.slice(prefixLen));
        const p = this.pending.get(id);
        if (p === undefined) return; // late reply after timeout
        this.pending.delete(id);
        p.resolve(msg);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), 250);
    this.sweeper.unref();
  }

  request(subject: string, payload: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
    const id = ++this.next;
    return new Promise<Msg>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: performance.now() + this.timeoutMs });
      this.nc.publish(
        subject,
        payload,
        headers ? { reply: this.prefix + id, headers } : { reply: this.prefix + id },
      );
    });
  }

  private sweep(): void {
    const now = performance.now();
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        p.reject(new Error("request timed out"));
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new Error("closed"));
    this.pending.clear();
  }
}
