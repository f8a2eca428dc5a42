import type { NatsConnection, Status } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { ServiceRecorder } from "../metrics/recorder.js";
import { type AccessRecord, encodeAccessRecord, recordPath } from "../protocol/index.js";

/** Default of {@link AccessRecordOptions.buffer}: records held while they wait to be published. */
export const DEFAULT_RECORD_BUFFER = 1024;
/** Largest record message: records of one turn are split into messages of at most this many bytes. */
const MAX_MESSAGE = 64 * 1024;

/**
 * Options of `serve({ accessRecords })`.
 *
 * @example
 * ```ts
 * await serve(app, { service: "orders", accessRecords: { buffer: 5_000 } });
 * ```
 */
export interface AccessRecordOptions {
  /**
   * Records held while they wait to be published (default 1024): those of one event-loop turn, or
   * all of them while the connection is down. A record that finds the buffer full is dropped and
   * counted (`natsmesh_service_access_records_dropped_total`); a request never waits for one.
   */
  buffer?: number;
}

/**
 * An instance's access records (PROTOCOL.md §11): {@link add} keeps one per answered request in a
 * bounded buffer — O(1), no encoding on the request path — and the records of each event-loop turn
 * are published after it, as few messages as fit, to `<prefix>.<service>.$TAP.<instance>`. While
 * the connection is down nothing is published (nats.js would buffer it without bound); the buffer
 * keeps the newest records that fit and counts the rest as dropped.
 */
export class AccessRecords {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #service: string;
  readonly #instance: string;
  readonly #capacity: number;
  readonly #recorder: ServiceRecorder | undefined;
  readonly #log: Logger;
  #buffer: AccessRecord[] = [];
  #scheduled = false;
  #connected = true;
  #closed = false;
  readonly #status: AsyncIterable<Status> & { stop(): void };
  #published = 0;
  #dropped = 0;
  #droppedLogged = 0;

  /**
   * @param nc - the instance's connection
   * @param subject - `<prefix>.<service>.$TAP.<instance>`
   * @param parts - service, instance, buffer size, metrics and logger
   */
  constructor(
    nc: NatsConnection,
    subject: string,
    parts: {
      service: string;
      instance: string;
      capacity: number;
      recorder: ServiceRecorder | undefined;
      log: Logger;
    },
  ) {
    this.#nc = nc;
    this.#subject = subject;
    this.#service = parts.service;
    this.#instance = parts.instance;
    this.#capacity = parts.capacity;
    this.#recorder = parts.recorder;
    this.#log = parts.log;
    this.#status = nc.status() as AsyncIterable<Status> & { stop(): void };
    void this.#watch();
  }

  /** Records this instance published. */
  get published(): number {
    return this.#published;
  }

  /** Records this instance dropped: the buffer was full, or the connection refused them. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Follows the connection: records wait (bounded) while it is down and leave once it is back. */
  async #watch(): Promise<void> {
    for await (const s of this.#status) {
      if (s.type === "disconnect") this.#connected = false;
      else if (s.type === "reconnect") {
        this.#connected = true;
        this.#schedule();
      }
    }
  }

  /**
   * Keeps the record of one answered request, to be published after this turn; drops and counts it
   * when the buffer is full.
   *
   * @param method - the request method
   * @param target - the request target (its query is left out)
   * @param status - the answer's status
   * @param ms - the handler's time in milliseconds
   * @param requestId - the request id the answer carried
   */
  add(method: string, target: string, status: number, ms: number, requestId: string): void {
    if (this.#closed) return;
    if (this.#buffer.length >= this.#capacity) {
      this.#drop(1);
      return;
    }
    this.#buffer.push({
      time: Date.now(),
      service: this.#service,
      instance: this.#instance,
      method,
      path: recordPath(target),
      status,
      ms: Math.round(ms * 1000) / 1000,
      requestId,
    });
    this.#schedule();
  }

  /** Publishes what is left and stops following the connection. */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    // Still here: the connection is down, and stays so for these.
    if (this.#buffer.length > 0) this.#drop(this.#buffer.length);
    this.#buffer = [];
    this.#closed = true;
    this.#status.stop();
  }

  #schedule(): void {
    if (this.#scheduled || !this.#connected || this.#buffer.length === 0) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (!this.#connected || this.#buffer.length === 0) return;
    if (this.#nc.isClosed()) {
      this.#drop(this.#buffer.length);
      this.#buffer = [];
      return;
    }
    const records = this.#buffer;
    this.#buffer = [];
    const limit = Math.min(MAX_MESSAGE, this.#nc.info?.max_payload ?? MAX_MESSAGE);
    let lines: string[] = [];
    let size = 0;
    for (const r of records) {
      const line = encodeAccessRecord(r);
      if (lines.length > 0 && size + line.length + 1 > limit) {
        this.#publish(lines);
        lines = [];
        size = 0;
      }
      lines.push(line);
      size += line.length + 1;
    }
    this.#publish(lines);
  };

  #publish(lines: string[]): void {
    try {
      this.#nc.publish(this.#subject, `${lines.join("\n")}\n`);
      this.#published += lines.length;
      if (this.#recorder) this.#recorder.accessRecords += lines.length;
    } catch (err) {
      this.#drop(lines.length, err);
    }
  }

  #drop(n: number, err?: unknown): void {
    this.#dropped += n;
    if (this.#recorder) this.#recorder.accessRecordsDropped += n;
    // The first drop, then one warning per 1000: a long outage must not flood the log.
    if (this.#droppedLogged === 0 || this.#dropped - this.#droppedLogged >= 1000) {
      this.#droppedLogged = this.#dropped;
      this.#log.warn({ err, dropped: this.#dropped }, "access records dropped");
    }
  }
}
