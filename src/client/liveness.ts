/**
 * What a client has learnt of each service's liveness signals (PROTOCOL.md §8.4). A peer that
 * implements only §1–§7 never sends a heartbeat, so silence means nothing from it; a natsmesh
 * instance acknowledges each request it takes and heartbeats while it works. Silence rules apply only
 * to services heard to speak §8, and the acknowledgement deadline follows their observed round trip.
 *
 * @module
 */

/** Shortest acknowledgement deadline, in ms: below it a busy but healthy instance would be given up. */
export const MIN_ACK_DEADLINE = 100;
/** Longest acknowledgement deadline, in ms. */
export const MAX_ACK_DEADLINE = 500;
/** The deadline is this many times the smoothed round trip of a request's first answer. */
const ACK_RTT_FACTOR = 8;

interface Known {
  /** The service marks its answers (`mesh-heartbeat`): it acknowledges each request at once. */
  acks: boolean;
  /** Smoothed milliseconds from publishing a request to its first message (ack or answer). */
  rtt: number;
}

/**
 * Per service (keyed by the request subject without its method token): whether it speaks §8, and how
 * soon it answers. One per connection's request mux.
 */
export class ServiceLiveness {
  readonly #known = new Map<string, Known>();

  /** Whether the service was heard to send §8 frames or markers (and not since seen to be plain). */
  speaks(key: string): boolean {
    return this.#known.has(key);
  }

  /**
   * Milliseconds a request may wait for its acknowledgement before the caller gives it up and sends
   * it elsewhere: the smoothed first-message round trip × 8, within 100–500 ms; undefined for a
   * service not known to acknowledge (no marker seen: a plain peer, or a §8 peer that only heartbeats).
   */
  ackDeadline(key: string): number | undefined {
    const known = this.#known.get(key);
    if (known === undefined || !known.acks) return undefined;
    return Math.round(Math.min(MAX_ACK_DEADLINE, Math.max(MIN_ACK_DEADLINE, known.rtt * ACK_RTT_FACTOR)));
  }

  /**
   * The service sent a §8 frame (`acks` false) or an answer with the §8.4 marker (`acks` true).
   *
   * @param rtt - the round trip of this request's first message, in ms.
   */
  heard(key: string, rtt: number, acks: boolean): void {
    const known = this.#known.get(key);
    if (known === undefined) {
      this.#known.set(key, { acks, rtt });
      return;
    }
    if (acks) known.acks = true;
    known.rtt += (rtt - known.rtt) / 8;
  }

  /** A round trip of a service already known, to follow its latency. */
  sample(key: string, rtt: number): void {
    const known = this.#known.get(key);
    if (known !== undefined) known.rtt += (rtt - known.rtt) / 8;
  }

  /**
   * An instance of the service answered a request without acknowledging it and without the §8
   * marker: it is a plain peer (or the service mixes such peers in), so silence says nothing any more.
   */
  forget(key: string): void {
    this.#known.delete(key);
  }
}

/** The key of a request subject: `<prefix>.<service>` (the subject without its method token). */
export function livenessKey(subject: string): string {
  return subject.slice(0, subject.lastIndexOf("."));
}
