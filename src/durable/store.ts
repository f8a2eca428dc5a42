/**
 * `DurableStore`: a connection's JetStream side of durable requests (PROTOCOL.md §13) — submitting
 * (a publish with `Nats-Msg-Id`), looking a request up (its record, else its message in the stream),
 * writing records, and the stream, consumer and bucket a working instance makes sure of.
 *
 * @module
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { errors as coreErrors, type NatsConnection, nanos } from "@nats-io/nats-core";
import {
  ErrorCode,
  encodeRequest,
  MeshError,
  PayloadTooLargeError,
  RESERVED_PREFIX,
  readRequest,
  type WireRequest,
} from "../protocol/index.js";
import {
  CONSUMER_NAME,
  DEFAULT_BUCKET,
  durableSubject,
  fingerprint,
  lookupSubject,
  recordKey,
  requestId,
  streamName,
  streamSubject,
} from "./names.js";
import { type DurableRecord, DurableState, decodeRecord, encodeRecord } from "./record.js";
import type { DurableOptions } from "./settings.js";

/** What is known of one durable request. */
export interface DurableStatus {
  /** The request's id. */
  id: string;
  /** Its service. */
  service: string;
  /** Where it is: `queued` also without a record (in the stream, never tried). */
  state: DurableState;
  /** Attempts made so far. */
  attempts: number;
  /** Its record, when one was written. */
  record?: DurableRecord | undefined;
  /** Without a record: the request message as the stream holds it. */
  message?: Uint8Array | undefined;
}

/** What a submission gave. */
export interface Submitted {
  /** The request's id (the status resource's last segment). */
  id: string;
  /** Its state now: `queued` for a new request, any state for a repeat of a known one. */
  state: DurableState;
  /** Whether the request was known already (same `Idempotency-Key`), so nothing new was stored. */
  duplicate: boolean;
}

/** Seconds a caller should wait before submitting again to a full stream. */
export const FULL_RETRY_AFTER = 5;

/** A KV key's value in the records bucket, or the stream's message for the id. */
export class DurableStore {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #bucket: string;
  #jsm: Promise<JetStreamManager> | undefined;
  #js: JetStreamClient | undefined;
  #kv: Promise<KV> | undefined;

  /**
   * @param nc - the connection
   * @param prefix - the subject prefix of the deployment (`mesh`)
   * @param bucket - the records' KV bucket (default `natsmesh-durable`)
   */
  constructor(nc: NatsConnection, prefix: string, bucket: string = DEFAULT_BUCKET) {
    this.#nc = nc;
    this.#prefix = prefix;
    this.#bucket = bucket;
  }

  /** The subject prefix the store works under. */
  get prefix(): string {
    return this.#prefix;
  }

  /**
   * How many requests of `service` wait in its stream (not yet answered nor dead).
   *
   * @returns undefined when the service has no stream
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when JetStream cannot be asked
   */
  async waiting(service: string): Promise<number | undefined> {
    const jsm = await this.#manager();
    const info = await jsm.streams.info(streamName(this.#prefix, service)).catch((err: unknown) => {
      if (isStreamNotFound(err)) return undefined;
      return unavailable("read the stream")(err);
    });
    return info?.state.messages;
  }

  /**
   * Stores `req` for `service` and returns its id; a request known already (same
   * `Idempotency-Key`: a record, or its message still in the stream) is not stored again.
   *
   * @param service - the service (a valid name)
   * @param req - the request, its body in one piece (no `stream`)
   * @param idempotencyKey - the request's `Idempotency-Key`, if any: it names the request
   * @throws PayloadTooLargeError (413) when the message exceeds the server's `max_payload`;
   *   MeshError `NM_ERR_DURABLE_UNAVAILABLE` (503) when JetStream is not enabled or no instance of
   *   the service accepts durable requests; `NM_ERR_DURABLE_FULL` (503) when its stream is full.
   */
  async submit(service: string, req: WireRequest, idempotencyKey?: string): Promise<Submitted> {
    if (req.stream !== undefined) throw new TypeError("a durable request's body must be given in one piece");
    const id = requestId(idempotencyKey);
    const subject = durableSubject(this.#prefix, service, req.method, id);
    const payload = encodeRequest({ ...req, headers: withoutReserved(req.headers), stream: undefined });
    const max = this.#nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    if (payload.byteLength > max)
      throw new PayloadTooLargeError(payload.byteLength, max, { service, subject });
    if (idempotencyKey !== undefined && idempotencyKey !== "") {
      // A caller in another account (a service import of `<prefix>.<service>.>`) cannot read the
      // service account's JetStream: it relies on the publish's Nats-Msg-Id alone (the duplicate window).
      const known = await this.lookup(service, id).catch((err: unknown) => {
        if (err instanceof MeshError && err.code === ErrorCode.DurableUnavailable) return undefined;
        throw err;
      });
      if (known !== undefined) {
        if (
          knownFingerprint(known) !== undefined &&
          knownFingerprint(known) !== fingerprint(req.method, req.path, req.body)
        )
          throw new MeshError(
            ErrorCode.DurableMismatch,
            422,
            "this Idempotency-Key was used for a different request (method, path or body)",
            { service, subject },
          );
        return { id, state: known.state, duplicate: true };
      }
    }
    const stream = streamName(this.#prefix, service);
    try {
      const ack = await this.#client().publish(subject, payload, {
        msgID: id,
        expect: { streamName: stream },
      });
      return { id, state: DurableState.Queued, duplicate: ack.duplicate };
    } catch (err) {
      throw await this.#submitError(service, stream, err);
    }
  }

  /**
   * What is known of request `id` of `service`: its record, else `queued` when the stream holds it.
   *
   * @returns undefined for an id never submitted, or whose record expired
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when JetStream cannot be asked
   */
  async lookup(service: string, id: string): Promise<DurableStatus | undefined> {
    const kv = await this.#records(false);
    if (kv !== undefined) {
      const entry = await kv.get(recordKey(this.#prefix, service, id)).catch(unavailable("read a record"));
      if (entry !== null && entry.operation === "PUT") {
        const record = decodeRecord(entry.value);
        return { id, service, state: record.state, attempts: record.attempts, record };
      }
    }
    const jsm = await this.#manager();
    const msg = await jsm.streams
      // The filter has a wildcard for the method token (nats-server 2.9 accepts one here).
      .getMessage(streamName(this.#prefix, service), {
        last_by_subj: lookupSubject(this.#prefix, service, id),
      })
      .catch((err: unknown) => {
        if (isStreamNotFound(err)) return null;
        return unavailable("look a request up in the stream")(err);
      });
    if (msg === null) return undefined;
    return { id, service, state: DurableState.Queued, attempts: 0, message: msg.data };
  }

  /**
   * Writes request `id`'s record (a worker's: running, queued after a failure, done, dead).
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when the bucket cannot be written
   */
  async write(service: string, id: string, record: DurableRecord): Promise<void> {
    const kv = await this.#records(true);
    await kv!
      .put(recordKey(this.#prefix, service, id), encodeRecord(record))
      .catch(unavailable("write a record"));
  }

  /**
   * Every record of `service` (dead letters included), for operators.
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when the bucket cannot be read
   */
  async records(service: string): Promise<DurableStatus[]> {
    const kv = await this.#records(false);
    if (kv === undefined) return [];
    const out: DurableStatus[] = [];
    const prefix = `${this.#prefix}.${service}.`;
    const keys = await kv.keys(`${prefix}*`).catch(unavailable("list records"));
    for await (const key of keys) {
      const entry = await kv.get(key).catch(unavailable("read a record"));
      if (entry === null || entry.operation !== "PUT") continue;
      const record = decodeRecord(entry.value);
      const id = key.slice(prefix.length);
      out.push({ id, service, state: record.state, attempts: record.attempts, record });
    }
    return out;
  }

  /**
   * Submits a dead letter again (an operator's retry): its stored request is published anew under
   * the same id, and its record removed, so that its state is `queued` until an instance works it.
   *
   * @returns false when `id` is no dead letter of `service` (unknown, expired, or in another state)
   * @throws MeshError `NM_ERR_DURABLE_*` as {@link submit}
   */
  async retry(service: string, id: string): Promise<boolean> {
    const known = await this.lookup(service, id);
    const record = known?.record;
    if (record?.state !== DurableState.Dead || record.request === undefined) return false;
    const stream = streamName(this.#prefix, service);
    const subject = durableSubject(this.#prefix, service, record.method, id);
    // Queued before it is published: an instance working it at once overwrites this, never the reverse.
    const { request, ...meta } = record;
    await this.write(service, id, {
      ...meta,
      state: DurableState.Queued,
      attempts: 0,
      error: `retried after: ${record.error ?? "a dead letter"}`,
      updated: new Date().toISOString(),
    });
    try {
      await this.#manager();
      // A message id of its own: the first publish of `id` may still be in the duplicate window.
      await this.#client().publish(subject, request, {
        msgID: `${id}.retry.${Date.now()}`,
        expect: { streamName: stream },
      });
    } catch (err) {
      await this.write(service, id, record).catch(() => undefined);
      throw await this.#submitError(service, stream, err);
    }
    return true;
  }

  /**
   * Deletes request `id`'s record.
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when the bucket cannot be written
   */
  async forget(service: string, id: string): Promise<void> {
    const kv = await this.#records(false);
    await kv?.purge(recordKey(this.#prefix, service, id)).catch(unavailable("purge a record"));
  }

  /**
   * Makes sure the stream, the consumer and the bucket of `service` exist (a working instance's
   * start-up); existing ones are used as they are.
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` naming JetStream when it is not enabled, and when
   *   an existing stream of that name has other subjects.
   */
  async ensure(service: string, s: Required<DurableOptions>): Promise<void> {
    const jsm = await this.#manager();
    const name = streamName(this.#prefix, service);
    const subject = streamSubject(this.#prefix, service);
    const info = await jsm.streams.info(name).catch((err: unknown) => {
      if (isStreamNotFound(err)) return undefined;
      return unavailable(`read stream ${name}`)(err);
    });
    if (info === undefined) {
      await jsm.streams
        .add({
          name,
          subjects: [subject],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          discard: DiscardPolicy.New,
          num_replicas: s.replicas,
          max_bytes: s.maxBytes,
          max_msgs: s.maxMessages === 0 ? -1 : s.maxMessages,
          duplicate_window: nanos(s.duplicateWindow),
        })
        .catch(unavailable(`create stream ${name}`));
    } else if (info.config.subjects?.length !== 1 || info.config.subjects[0] !== subject) {
      throw new MeshError(
        ErrorCode.DurableUnavailable,
        503,
        `stream ${name} exists with subjects ${JSON.stringify(info.config.subjects)}, not ['${subject}']`,
        { service },
      );
    }
    await jsm.consumers
      .add(name, {
        durable_name: CONSUMER_NAME,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(s.ackWait),
        max_deliver: -1,
        max_ack_pending: -1,
      })
      .catch((err: unknown) => {
        // Created by another instance with other settings: used as it is.
        if (err instanceof JetStreamApiError && err.code === 10148) return;
        return unavailable(`create consumer ${CONSUMER_NAME} of ${name}`)(err);
      });
    this.#kv ??= new Kvm(this.#nc).create(this.#bucket, {
      history: 1,
      ttl: s.retention,
      replicas: s.replicas,
    });
    await this.#kv.catch((err: unknown) => {
      this.#kv = undefined;
      return unavailable(`create bucket ${this.#bucket}`)(err);
    });
  }

  /** The JetStream client of the connection (consumers are got from it). */
  client(): JetStreamClient {
    return this.#client();
  }

  #client(): JetStreamClient {
    this.#js ??= jetstream(this.#nc);
    return this.#js;
  }

  /** The JetStream manager; it fails, naming JetStream, when JetStream is not enabled. */
  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= jetstreamManager(this.#nc).catch((err: unknown) => {
      this.#jsm = undefined;
      if (isNotEnabled(err) || isNoResponders(err))
        throw new MeshError(
          ErrorCode.DurableUnavailable,
          503,
          "durable requests need JetStream, which is not enabled on the NATS server for this account (start nats-server with -js, or jetstream {} in its configuration)",
          { cause: err },
        );
      throw unavailable("reach JetStream")(err);
    });
    return this.#jsm;
  }

  /** The records bucket; with `create` false, undefined while it does not exist. */
  async #records(create: true): Promise<KV>;
  async #records(create: false): Promise<KV | undefined>;
  async #records(create: boolean): Promise<KV | undefined> {
    if (this.#kv === undefined) {
      await this.#manager();
      const opening = new Kvm(this.#nc).open(this.#bucket);
      this.#kv = opening;
      try {
        return await opening;
      } catch (err) {
        this.#kv = undefined;
        if (!create && isStreamNotFound(err)) return undefined;
        throw unavailable(`open bucket ${this.#bucket}`)(err);
      }
    }
    return this.#kv;
  }

  async #submitError(service: string, stream: string, err: unknown): Promise<unknown> {
    if (err instanceof MeshError) return err;
    // Nobody stored it: say why when this account's JetStream can tell (not enabled names it).
    const why = await this.#manager().then(
      () => undefined,
      (e: unknown) => e,
    );
    if (why instanceof MeshError && /not enabled/.test(why.message)) return why;
    if (isNoResponders(err) || isStreamNotFound(err)) {
      return new MeshError(
        ErrorCode.DurableUnavailable,
        503,
        `service '${service}' accepts no durable requests: its stream ${stream} does not exist (no instance runs with durable requests on)`,
        { service, cause: err },
      );
    }
    if (isFull(err)) {
      return new MeshError(
        ErrorCode.DurableFull,
        503,
        `the durable requests of service '${service}' fill its stream ${stream}; retry later`,
        { service, cause: err },
      );
    }
    return unavailable(`store the request in ${stream}`)(err);
  }
}

/** The fingerprint of a known request: its record's, else its stored message's; undefined when unknown. */
function knownFingerprint(known: DurableStatus): string | undefined {
  if (known.record !== undefined) return known.record.fingerprint;
  if (known.message === undefined) return undefined;
  const req = readRequest(known.message);
  return typeof req === "string" ? undefined : fingerprint(req.method, req.path, req.body);
}

/** Drops `mesh-` headers: a stored request carries none of the live exchange's. */
function withoutReserved(headers: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2)
    if (!headers[i]!.toLowerCase().startsWith(RESERVED_PREFIX)) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

function isStreamNotFound(err: unknown): boolean {
  return (
    (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) ||
    (err instanceof Error && /stream not found/i.test(err.message))
  );
}

/** nats.js's `JetStreamNotEnabled` (not exported by the package's entry point), by its name or message. */
function isNotEnabled(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err.name === "JetStreamNotEnabled" || /jetstream.*not enabled/i.test(err.message))
  );
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof coreErrors.NoRespondersError) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof coreErrors.NoRespondersError;
}

/** A publish refused because the stream is at its `max_bytes` or `max_msgs` (discard new). */
function isFull(err: unknown): boolean {
  return err instanceof Error && /maximum (messages|bytes) exceeded/i.test(err.message);
}

function unavailable(what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof MeshError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new MeshError(ErrorCode.DurableUnavailable, 503, `durable requests: could not ${what}: ${why}`, {
      cause: err,
    });
  };
}

/**
 * The {@link DurableStore} of each connection a caller submits on, made on first use: the client's
 * and the gateway's front door keep one per connection (the records bucket is opened once per store).
 *
 * @example
 * ```ts
 * const stores = new DurableStores();
 * await stores.of(nc, "mesh").submit("reports", request, undefined);
 * ```
 */
export class DurableStores {
  readonly #stores = new WeakMap<NatsConnection, DurableStore>();

  /** The store of `nc`, under `prefix` (the prefix of its first use). */
  of(nc: NatsConnection, prefix: string): DurableStore {
    let store = this.#stores.get(nc);
    if (store === undefined) {
      store = new DurableStore(nc, prefix);
      this.#stores.set(nc, store);
    }
    return store;
  }
}
