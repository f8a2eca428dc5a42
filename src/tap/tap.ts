import type { NatsConnection, Status, Subscription } from "@nats-io/nats-core";
import { PermissionViolationError } from "@nats-io/nats-core";
import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import {
  type AccessRecord,
  assertServiceName,
  decodeAccessRecords,
  PermissionDeniedError,
  tapSubject,
} from "../protocol/index.js";

/**
 * Default of {@link TapOptions.buffer}: records held for a reader that has not taken them yet.
 *
 * @example
 * ```ts
 * await using records = await tap("orders", { buffer: 10 * DEFAULT_TAP_BUFFER });
 * ```
 */
export const DEFAULT_TAP_BUFFER = 10_000;

const INSTANCE_ID = /^[A-Za-z0-9_-]+$/;

/**
 * What happened to a tap's connection (see {@link TapOptions.onEvent}).
 *
 * @example
 * ```ts
 * const onEvent = (e: TapEvent) => {
 *   if (e.type === "dropping") console.error(`reader behind: ${e.dropped} records dropped`);
 *   else console.error(`${e.type} (${e.server})`);
 * };
 * await using records = await tap("orders", { onEvent });
 * ```
 */
export type TapEvent =
  /**
   * The connection was lost: the server went away, or cut the tap off as a slow consumer (a
   * subscriber that does not read its socket fast enough); nats.js reconnects on its own. Records
   * published meanwhile are not seen.
   */
  | {
      /** The kind of event. */
      type: "disconnect";
      /** The NATS server (`host:port`) the connection was lost from. */
      server: string;
    }
  /** The connection is back; the tap sees records again. */
  | {
      /** The kind of event. */
      type: "reconnect";
      /** The NATS server (`host:port`) the connection is back on. */
      server: string;
    }
  /** The reader fell behind by {@link TapOptions.buffer} records: this one and later ones are dropped until it catches up. */
  | {
      /** The kind of event. */
      type: "dropping";
      /** Records dropped so far by this tap, this one included (as {@link Tap.dropped}). */
      dropped: number;
    };

/**
 * Options of {@link tap}.
 *
 * @example
 * ```ts
 * await using records = await tap("orders", {
 *   connection: { servers: "nats://127.0.0.1:4222" },
 *   instance: "hx2Kq0l1eDzNaBvVQhTz5A", // one instance only
 *   buffer: 50_000,
 *   signal: AbortSignal.timeout(60_000),
 *   onEvent: (e) => console.error(e),
 * });
 * ```
 */
export interface TapOptions extends ConnectionSourceOptions {
  /** Only this instance's records (its `mesh-instance` id); default every instance. */
  instance?: string;
  /**
   * Records held for a reader that has not taken them yet (default 10 000). Past it, records are
   * dropped and counted ({@link Tap.dropped}): a slow reader costs bounded memory, never the service.
   */
  buffer?: number;
  /** Stops the tap when aborted, as {@link Tap.stop} does. */
  signal?: AbortSignal;
  /** Called on connection loss and return, and when the reader falls behind. */
  onEvent?: (event: TapEvent) => void;
}

/**
 * A running tap: an async iterable of the service's access records, for one reader at a time. The
 * iteration ends when the tap stops or its connection closes, and throws when nats-server ended the
 * subscription ({@link PermissionDeniedError} when the user may not subscribe to it).
 *
 * @example
 * ```ts
 * const records = await tap("orders");
 * for await (const r of records) if (r.status === 500) break; // breaking out stops the tap
 * console.log(records.received, records.dropped, records.malformed);
 * ```
 */
export interface Tap extends AsyncIterable<AccessRecord>, AsyncDisposable {
  /** The service tapped. */
  readonly service: string;
  /** The subject subscribed, `<prefix>.<service>.$TAP.*` (or one instance's). */
  readonly subject: string;
  /** Records received (taken by the reader or waiting for it). */
  readonly received: number;
  /** Records dropped because the reader fell {@link TapOptions.buffer} behind. */
  readonly dropped: number;
  /** Lines skipped because they were not records (PROTOCOL.md §11). */
  readonly malformed: number;
  /**
   * Stops: unsubscribes, ends the iteration at once (records not yet taken are discarded) and closes
   * the connection if the tap opened it. Breaking out of a `for await` loop over the tap stops it
   * too. A second call returns the first call's promise.
   */
  stop(): Promise<void>;
}

/**
 * Taps a service: subscribes to the access records its instances publish (PROTOCOL.md §11; the
 * instances must run with `serve({ accessRecords: true })`), without joining its queue group and
 * without interest in its request subjects — so a caller of a service with no instance still gets
 * its 503 at once. A slow reader never slows the service: records beyond {@link TapOptions.buffer}
 * are dropped and counted, and a tap that cannot read its socket at all is cut off by nats-server
 * (a slow consumer) and reconnects ({@link TapEvent}).
 *
 * @param service - the service name, e.g. `orders`
 * @param options - a connection (`nc`) or connection options, the prefix, an instance, the buffer
 * @returns the tap, once its subscription is registered with the server
 * @throws InvalidServiceError (from `natsmesh`) for a bad service name or prefix; RangeError for a bad
 *   `instance` or `buffer`; {@link PermissionDeniedError} (403) when the NATS user may not subscribe
 *   to the records subject; `ConnectError` when NATS cannot be reached
 * @example
 * ```ts
 * await using records = await tap("orders");
 * for await (const r of records) console.log(r.method, r.path, r.status, r.ms, r.instance);
 * ```
 */
export async function tap(service: string, options: TapOptions = {}): Promise<Tap> {
  assertServiceName(service);
  const buffer = options.buffer ?? DEFAULT_TAP_BUFFER;
  if (!Number.isInteger(buffer) || buffer < 1)
    throw new RangeError(`buffer: expected an integer ≥ 1, got ${buffer}`);
  if (options.instance !== undefined && !INSTANCE_ID.test(options.instance))
    throw new RangeError(`invalid instance id '${options.instance}': use letters, digits, '_' and '-'`);
  const source = new ConnectionSource(options);
  const { nc, prefix } = await source.get();
  const impl = new TapImpl(
    service,
    tapSubject(prefix, service, options.instance),
    nc,
    source,
    buffer,
    options,
  );
  try {
    await nc.flush();
    // nats-server refuses a subscription it does not allow before it answers the flush.
    impl.throwIfFailed();
  } catch (err) {
    await impl.stop();
    throw err;
  }
  return impl;
}

class TapImpl implements Tap {
  readonly service: string;
  readonly subject: string;
  readonly #source: ConnectionSource;
  readonly #capacity: number;
  readonly #onEvent: ((event: TapEvent) => void) | undefined;
  readonly #sub: Subscription;
  readonly #status: AsyncIterable<Status> & { stop(): void };
  readonly #signal: AbortSignal | undefined;
  #queue: AccessRecord[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  /** Why the subscription ended, when it was not {@link stop}. */
  #error: Error | undefined;
  #stopping: Promise<void> | undefined;
  #received = 0;
  #dropped = 0;
  #dropping = false;
  #malformed = 0;

  constructor(
    service: string,
    subject: string,
    nc: NatsConnection,
    source: ConnectionSource,
    capacity: number,
    options: TapOptions,
  ) {
    this.service = service;
    this.subject = subject;
    this.#source = source;
    this.#capacity = capacity;
    this.#onEvent = options.onEvent;
    this.#signal = options.signal;
    this.#sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) this.#fail(err);
        else this.#take(msg.data);
      },
    });
    void this.#sub.closed.then(
      () => this.#end(),
      (err: unknown) => this.#fail(err),
    );
    this.#status = nc.status() as AsyncIterable<Status> & { stop(): void };
    void this.#watch();
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#signal?.aborted) void this.stop();
  }

  get received(): number {
    return this.#received;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get malformed(): number {
    return this.#malformed;
  }

  readonly #onAbort = (): void => {
    void this.stop();
  };

  /** Reports the connection's losses and returns. */
  async #watch(): Promise<void> {
    for await (const s of this.#status) {
      if (s.type === "disconnect" || s.type === "reconnect")
        this.#onEvent?.({ type: s.type, server: s.server });
    }
  }

  #take(data: Uint8Array): void {
    const { records, malformed } = decodeAccessRecords(data);
    this.#malformed += malformed;
    for (const r of records) {
      this.#received++;
      if (this.#queue.length - this.#head >= this.#capacity) {
        this.#dropped++;
        if (!this.#dropping) {
          this.#dropping = true;
          this.#onEvent?.({ type: "dropping", dropped: this.#dropped });
        }
        continue;
      }
      this.#dropping = false;
      this.#queue.push(r);
    }
    this.#wake?.();
  }

  #end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** The subscription failed: a refused subscription is a {@link PermissionDeniedError}. */
  #fail(err: unknown): void {
    if (this.#stopping === undefined && this.#error === undefined) {
      this.#error =
        err instanceof PermissionViolationError
          ? new PermissionDeniedError(
              { service: this.service, subject: this.subject },
              "subscribe",
              this.subject,
              {
                cause: err,
              },
            )
          : err instanceof Error
            ? err
            : new Error(String(err));
    }
    this.#end();
  }

  /** Throws what ended the subscription, if it failed. */
  throwIfFailed(): void {
    if (this.#error !== undefined) throw this.#error;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AccessRecord> {
    try {
      while (true) {
        if (this.#stopping) return;
        if (this.#head < this.#queue.length) {
          const r = this.#queue[this.#head]!;
          this.#queue[this.#head++] = undefined as unknown as AccessRecord;
          if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
            this.#queue = this.#queue.slice(this.#head);
            this.#head = 0;
          }
          yield r;
          continue;
        }
        if (this.#ended) {
          this.throwIfFailed();
          return;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    } finally {
      await this.stop();
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#close();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #close(): Promise<void> {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#queue = [];
    this.#head = 0;
    this.#end();
    this.#status.stop();
    try {
      this.#sub.unsubscribe();
    } catch {
      // the connection is closed already
    }
    await this.#source.close();
  }
}
