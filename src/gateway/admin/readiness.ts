/**
 * Whether the gateway can serve: connected to NATS and not shutting down.
 *
 * @module
 */
import type { NatsConnection } from "../../connect/index.js";

/**
 * Follows a NATS connection's status events: not ready from a disconnect until the reconnect, after
 * the connection closed, and once the gateway starts closing.
 *
 * @example
 * ```ts
 * const readiness = new Readiness(nc);
 * readiness.ready; // true while connected
 * ```
 */
export class Readiness {
  readonly #nc: NatsConnection;
  readonly #events: AsyncIterable<{ type: string }>;
  #connected = true;
  #closing = false;

  /**
   * @param nc - the gateway's NATS connection
   * @example
   * ```ts
   * new Readiness(nc);
   * ```
   */
  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#events = nc.status();
    void this.#watch();
  }

  /** Whether the gateway is connected to NATS and not closing. */
  get ready(): boolean {
    return this.reason === undefined;
  }

  /** Why the gateway is not ready, or `undefined` when it is. */
  get reason(): string | undefined {
    if (this.#closing) return "shutting down";
    if (this.#nc.isClosed()) return "NATS connection closed";
    return this.#connected ? undefined : "disconnected from NATS, reconnecting";
  }

  /**
   * Marks the gateway as shutting down (not ready) and stops following the connection.
   *
   * @example
   * ```ts
   * readiness.close();
   * ```
   */
  close(): void {
    this.#closing = true;
    (this.#events as { stop?: () => void }).stop?.();
  }

  async #watch(): Promise<void> {
    try {
      for await (const status of this.#events) {
        if (status.type === "disconnect" || status.type === "close") this.#connected = false;
        else if (status.type === "reconnect") this.#connected = true;
      }
    } catch {
      // The iterator ends with the connection; readiness then reads isClosed().
    }
  }
}
