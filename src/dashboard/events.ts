/**
 * Server-sent events to browsers, with a bounded buffer per connection: an update for a connection
 * whose socket still holds more than `maxBuffered` bytes is skipped (the next carries the whole
 * picture anyway), and a connection that skipped `maxSkipped` updates in a row is closed. A stalled
 * browser costs at most `maxBuffered` plus one message, never a growing queue.
 *
 * @module
 */
import type { ServerResponse } from "node:http";

/** Limits of {@link EventClients}. */
export interface EventLimits {
  /** Connections at most (default 32); more are answered 503. */
  maxClients?: number;
  /** Bytes a connection's socket may hold before updates are skipped (default 256 KiB). */
  maxBuffered?: number;
  /** Updates skipped in a row before the connection is closed (default 30). */
  maxSkipped?: number;
}

interface Client {
  res: ServerResponse;
  skipped: number;
}

/** The open event streams. */
export class EventClients {
  readonly #clients = new Set<Client>();
  readonly #maxClients: number;
  readonly #maxBuffered: number;
  readonly #maxSkipped: number;
  /** Updates skipped for a full buffer, over every connection. */
  skipped = 0;
  /** Connections closed for staying full. */
  dropped = 0;
  /** The most bytes any connection's socket held after a write (the bound a stalled browser meets). */
  peakBuffered = 0;

  constructor({ maxClients = 32, maxBuffered = 256 * 1024, maxSkipped = 30 }: EventLimits = {}) {
    this.#maxClients = maxClients;
    this.#maxBuffered = maxBuffered;
    this.#maxSkipped = maxSkipped;
  }

  /** Connections open now. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Opens an event stream on `res` and sends `first` on it.
   *
   * @returns false (and answers 503) when the connection limit is reached
   */
  open(res: ServerResponse, first: string): boolean {
    if (this.#clients.size >= this.#maxClients) {
      res.writeHead(503, { "content-type": "text/plain", "retry-after": "5" });
      res.end("too many dashboard connections\n");
      return false;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    const client: Client = { res, skipped: 0 };
    this.#clients.add(client);
    res.on("close", () => this.#clients.delete(client));
    res.write(first);
    return true;
  }

  /** Sends one event to every connection whose buffer has room. */
  send(event: string, data: string): void {
    const chunk = `event: ${event}\ndata: ${data}\n\n`;
    for (const client of this.#clients) {
      const { res } = client;
      if (res.writableLength > this.#maxBuffered) {
        this.skipped++;
        if (++client.skipped >= this.#maxSkipped) {
          this.dropped++;
          this.#clients.delete(client);
          res.destroy();
        }
        continue;
      }
      client.skipped = 0;
      res.write(chunk);
      if (res.writableLength > this.peakBuffered) this.peakBuffered = res.writableLength;
    }
  }

  /** Ends every stream. */
  close(): void {
    for (const { res } of this.#clients) res.end();
    this.#clients.clear();
  }
}

/** One event as SSE text. */
export function sseEvent(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
