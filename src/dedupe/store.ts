/**
 * `DedupeStore`: the records of deduplicated requests in one NATS KV bucket, claimed and replaced
 * atomically (KV `create`, revision-checked `update`). Nothing else: what the records mean is the
 * server's (`server/dedupe.ts`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setTimeout as sleep } from "node:timers/promises";
import { JetStreamApiCodes, JetStreamApiError, jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { errors, type NatsConnection } from "@nats-io/nats-core";
import { ErrorCode, MeshError } from "../protocol/index.js";
import { type DedupeRecord, decodeRecord, encodeRecord } from "./record.js";

/** How the bucket is made when it does not exist yet. An existing bucket is used as it is. */
export interface BucketSettings {
  /** Bucket name (`[A-Za-z0-9_-]`). */
  bucket: string;
  /** Milliseconds a record lives after its last write (the stream's `max_age`). */
  ttl: number;
  /** Largest size of the bucket in bytes; when full, new records are refused (KV's discard-new). */
  maxBytes: number;
  /** Copies of the bucket in a JetStream cluster. */
  replicas: number;
}

/** How long the store waits for NATS, per operation and in all, across a KV leader election. */
export interface StoreRetry {
  /** Milliseconds one KV operation waits for its answer (default 1000). */
  timeout: number;
  /**
   * Milliseconds within which an operation that met no answer, no stream leader or a temporarily
   * unavailable JetStream is tried again (default 10 000; 0: tried once).
   */
  retryFor: number;
}

/** Defaults of {@link StoreRetry}. */
export const STORE_RETRY_DEFAULTS: StoreRetry = { timeout: 1000, retryFor: 10_000 };

/** nats-server's JetStream API error "JetStream system temporarily unavailable" (status 503). */
const JS_TEMPORARILY_UNAVAILABLE = 10008;

/** First and largest pause between two tries of an operation. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 500;

/**
 * What {@link DedupeStore.claimNow} and {@link DedupeStore.readNow} return when their one try met no
 * stream leader or no answer: the bucket's replicas are electing a leader (or NATS is out of reach).
 */
export const NO_LEADER: unique symbol = Symbol("natsmesh.dedupe.no-leader");

/** A key as read: its record (undefined when deleted), with the revision a write over it must name. */
export interface StoredRecord {
  record: DedupeRecord | undefined;
  revision: number;
  /** When the NATS server stored this revision (its clock). */
  written: Date;
}

/**
 * One KV bucket of deduplication records. The bucket is opened (created if missing) on first use;
 * after a failure it is opened again, so a bucket deleted or a JetStream restarted is picked up again.
 *
 * Each operation waits {@link StoreRetry.timeout} for its answer; one that met no answer, no stream
 * leader (a node of a JetStream cluster was lost and the bucket's replicas elect another) or a
 * temporarily unavailable JetStream is tried again, with a growing pause, within
 * {@link StoreRetry.retryFor}. A write whose answer was lost may have been done: when a later try
 * meets a revision conflict, the key is read, and the write counts as done if the key holds exactly
 * the bytes written (records carry a per-claim nonce, so no one else writes the same bytes). What
 * still fails throws a {@link MeshError} with code `NM_ERR_DEDUPE_UNAVAILABLE` (503) and the cause.
 */
export class DedupeStore {
  readonly #nc: NatsConnection;
  readonly #settings: BucketSettings;
  readonly #retry: StoreRetry;
  #kv: Promise<KV> | undefined;
  /** The bucket was opened once: JetStream runs, so a missing responder is a leader being elected. */
  #opened = false;
  /**
   * The bucket as last opened. A one-try operation uses it as it is: opening asks the stream's
   * leader, which a bucket electing one does not have.
   */
  #last: KV | undefined;
  /** When (this instance's clock) an operation last met no leader or no answer; -Infinity: never. */
  #unreachableAt = Number.NEGATIVE_INFINITY;

  /**
   * @param nc - the connection
   * @param settings - how the bucket is made when missing
   * @param retry - per-operation timeout and retry window (default {@link STORE_RETRY_DEFAULTS})
   */
  constructor(nc: NatsConnection, settings: BucketSettings, retry: StoreRetry = STORE_RETRY_DEFAULTS) {
    this.#nc = nc;
    this.#settings = settings;
    this.#retry = retry;
  }

  /**
   * Writes `record` under `key` if the key holds nothing: never written or expired (`after` 0), or
   * deleted at revision `after` (as {@link read} saw it).
   *
   * @returns the new revision, or undefined when the key was written since
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached
   */
  claim(key: string, record: DedupeRecord, after = 0): Promise<number | undefined> {
    // KV's own create() reads the key again when it finds it taken; the caller reads it anyway.
    const bytes = encodeRecord(record);
    return this.#write(key, bytes, (kv, timeout) => kv.put(key, bytes, { previousSeq: after, timeout }));
  }

  /**
   * {@link claim} tried once, without waiting out a leader election.
   *
   * @returns the new revision, undefined when the key is taken, or {@link NO_LEADER} when the try
   *   met no leader or no answer (the write may then have been done: read the key)
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` on any other failure (no JetStream, a full bucket)
   */
  async claimNow(
    key: string,
    record: DedupeRecord,
    after = 0,
  ): Promise<number | undefined | typeof NO_LEADER> {
    const bytes = encodeRecord(record);
    try {
      return await this.#use(
        (kv, timeout) => kv.put(key, bytes, { previousSeq: after, timeout }),
        true,
        0,
        true,
      );
    } catch (err) {
      if (leaderless.has(err as object)) return NO_LEADER;
      throw err;
    }
  }

  /**
   * {@link read} tried once, waiting at most `within` ms for the answer: a replica may answer a read
   * (a direct get) while the bucket has no leader, where a write cannot be done.
   *
   * @returns as {@link read}, or {@link NO_LEADER} when no answer came
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` as {@link read} does
   */
  async readNow(key: string, within: number): Promise<StoredRecord | undefined | typeof NO_LEADER> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof NO_LEADER>((resolve) => {
      timer = setTimeout(() => resolve(NO_LEADER), within);
    });
    const read = this.#read(key, 0, true).catch((err: unknown): typeof NO_LEADER => {
      if (leaderless.has(err as object)) return NO_LEADER;
      throw err;
    });
    try {
      const got = await Promise.race([read, late]);
      if (got === NO_LEADER) this.#unreachableAt = performance.now();
      return got;
    } finally {
      clearTimeout(timer);
      read.catch(() => {});
    }
  }

  /**
   * When (this instance's `performance.now()`) an operation last met no leader or no answer;
   * -Infinity when none did. Renewals of running records fail while the bucket has no leader, so a
   * takeover waits for a lease after it.
   */
  get unreachableAt(): number {
    return this.#unreachableAt;
  }

  /**
   * Replaces the record under `key` if it is still at `revision`.
   *
   * @returns the new revision, or undefined when the record changed since (someone else wrote it)
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached
   */
  replace(key: string, record: DedupeRecord, revision: number): Promise<number | undefined> {
    const bytes = encodeRecord(record);
    return this.#write(key, bytes, (kv, timeout) => kv.update(key, bytes, revision, timeout));
  }

  /**
   * Deletes the record under `key` if it is still at `revision` (a claim given back).
   *
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached
   */
  async release(key: string, revision: number): Promise<void> {
    // A delete whose answer was lost and then met a conflict: done if the key reads deleted.
    await this.#write(key, undefined, (kv) => kv.delete(key, { previousSeq: revision }).then(() => revision));
  }

  /**
   * Reads the record under `key`.
   *
   * @returns the record (undefined when deleted) and its revision, or undefined when the key was
   *   never written or its record expired
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached or holds bytes
   *   that are not a record
   */
  read(key: string): Promise<StoredRecord | undefined> {
    return this.#read(key, this.#retry.retryFor);
  }

  async #read(key: string, retryFor: number, reuse = false): Promise<StoredRecord | undefined> {
    const entry = await this.#use((kv) => kv.get(key), false, retryFor, reuse);
    if (entry === null || entry === undefined) return undefined;
    let record: DedupeRecord | undefined;
    try {
      record = entry.operation === "PUT" ? decodeRecord(entry.value) : undefined;
    } catch (err) {
      throw unavailable(`the deduplication bucket '${this.#settings.bucket}' holds a foreign value`, err);
    }
    return { record, revision: entry.revision, written: entry.created };
  }

  /**
   * A revision-checked write of `bytes` (undefined: a delete), tried again as {@link #use} does. A
   * conflict after a try whose answer was lost is checked against what the key holds.
   */
  async #write(
    key: string,
    bytes: Uint8Array | undefined,
    op: (kv: KV, timeout: number) => Promise<number>,
  ): Promise<number | undefined> {
    let lost = false;
    const revision = await this.#use(
      (kv, timeout) =>
        op(kv, timeout).catch((err: unknown) => {
          if (err instanceof errors.TimeoutError) lost = true;
          throw err;
        }),
      true,
    );
    if (revision !== undefined || !lost) return revision;
    const entry = await this.#use((kv) => kv.get(key), false);
    if (bytes === undefined) return entry?.operation === "PUT" ? undefined : (entry?.revision ?? 0);
    return entry?.operation === "PUT" && Buffer.from(entry.value).equals(bytes) ? entry.revision : undefined;
  }

  /**
   * Runs `op` on the bucket, trying again within the retry window while NATS gives no answer or no
   * leader; a revision conflict is `undefined` when `conflicts` says it may be.
   */
  async #use<T>(
    op: (kv: KV, timeout: number) => Promise<T>,
    conflicts: boolean,
    retryFor = this.#retry.retryFor,
    reuse = false,
  ): Promise<T | undefined> {
    const { timeout } = this.#retry;
    const until = performance.now() + retryFor;
    let pause = RETRY_FIRST_MS;
    for (;;) {
      let opened = false;
      try {
        const kv = (reuse ? this.#last : undefined) ?? (await this.#open());
        this.#last = kv;
        opened = true;
        this.#opened = true;
        return await op(kv, timeout);
      } catch (err) {
        if (opened && conflicts && isRevisionConflict(err)) return undefined;
        // Opened again on the next try: the bucket may have been deleted, JetStream restarted.
        this.#kv = undefined;
        const left = until - performance.now();
        const transient = this.#transient(err, opened);
        if (transient) this.#unreachableAt = performance.now();
        if (!transient || left <= 0) {
          const what = opened ? "failed" : "cannot be opened";
          const failure = unavailable(`the deduplication bucket '${this.#settings.bucket}' ${what}`, err);
          if (transient) leaderless.add(failure);
          throw failure;
        }
        await sleep(Math.min(pause, left));
        pause = Math.min(pause * 2, RETRY_MAX_MS);
      }
    }
  }

  /**
   * Whether a failure may pass by itself: no answer in time, a JetStream that says it is temporarily
   * unavailable (10008), or — once the bucket was opened, so JetStream runs — no responder for the
   * bucket's subjects (its replicas are electing a leader). Without JetStream, opening fails at once;
   * a full bucket (10077, also a 503) at once too.
   */
  #transient(err: unknown, opened: boolean): boolean {
    if (err instanceof errors.TimeoutError) return true;
    if (err instanceof JetStreamApiError) return err.code === JS_TEMPORARILY_UNAVAILABLE;
    if (err instanceof Error && err.name === "JetStreamNotEnabled") return opened || this.#opened;
    return false;
  }

  #open(): Promise<KV> {
    const { bucket, ttl, maxBytes, replicas } = this.#settings;
    const js = jetstream(this.#nc, { timeout: this.#retry.timeout });
    this.#kv ??= new Kvm(js).create(bucket, { history: 1, ttl, max_bytes: maxBytes, replicas });
    return this.#kv;
  }
}

/** Failures thrown by {@link DedupeStore} after no leader or no answer (not a refusal). */
const leaderless = new WeakSet<object>();

function isRevisionConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function unavailable(message: string, cause: unknown): MeshError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new MeshError(ErrorCode.DedupeUnavailable, 503, `${message}: ${why}`, { cause });
}
