/**
 * `DedupeStore`: the records of deduplicated requests in one NATS KV bucket, claimed and replaced
 * atomically (KV `create`, revision-checked `update`). Nothing else: what the records mean is the
 * server's (`server/dedupe.ts`).
 *
 * @module
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
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

/** A key as read: its record (undefined when deleted), with the revision a write over it must name. */
export interface StoredRecord {
  record: DedupeRecord | undefined;
  revision: number;
  /** When the NATS server stored this revision (its clock). */
  written: Date;
}

/**
 * One KV bucket of deduplication records. The bucket is opened (created if missing) on first use;
 * after a failure it is opened again on the next call, so a bucket deleted or a JetStream restarted
 * is picked up again. Every failure to reach it throws a {@link MeshError} with code
 * `NM_ERR_DEDUPE_UNAVAILABLE` (503) and the cause.
 */
export class DedupeStore {
  readonly #nc: NatsConnection;
  readonly #settings: BucketSettings;
  #kv: Promise<KV> | undefined;

  constructor(nc: NatsConnection, settings: BucketSettings) {
    this.#nc = nc;
    this.#settings = settings;
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
    return this.#use((kv) => kv.put(key, encodeRecord(record), { previousSeq: after }), true);
  }

  /**
   * Replaces the record under `key` if it is still at `revision`.
   *
   * @returns the new revision, or undefined when the record changed since (someone else wrote it)
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached
   */
  replace(key: string, record: DedupeRecord, revision: number): Promise<number | undefined> {
    return this.#use((kv) => kv.update(key, encodeRecord(record), revision), true);
  }

  /**
   * Deletes the record under `key` if it is still at `revision` (a claim given back).
   *
   * @throws MeshError `NM_ERR_DEDUPE_UNAVAILABLE` when the bucket cannot be reached
   */
  async release(key: string, revision: number): Promise<void> {
    await this.#use((kv) => kv.delete(key, { previousSeq: revision }), true);
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
    return this.#use(async (kv) => {
      const entry = await kv.get(key);
      if (entry === null) return undefined;
      const record = entry.operation === "PUT" ? decodeRecord(entry.value) : undefined;
      return { record, revision: entry.revision, written: entry.created };
    }, false);
  }

  /** Runs `op` on the bucket; a revision conflict is `undefined` when `conflicts` says it may be. */
  async #use<T>(op: (kv: KV) => Promise<T>, conflicts: boolean): Promise<T | undefined> {
    let kv: KV;
    try {
      kv = await this.#open();
    } catch (err) {
      this.#kv = undefined;
      throw unavailable(`the deduplication bucket '${this.#settings.bucket}' cannot be opened`, err);
    }
    try {
      return await op(kv);
    } catch (err) {
      if (conflicts && isRevisionConflict(err)) return undefined;
      // Opened again on the next call: the bucket may have been deleted, JetStream restarted.
      this.#kv = undefined;
      throw unavailable(`the deduplication bucket '${this.#settings.bucket}' failed`, err);
    }
  }

  #open(): Promise<KV> {
    const { bucket, ttl, maxBytes, replicas } = this.#settings;
    this.#kv ??= new Kvm(this.#nc).create(bucket, { history: 1, ttl, max_bytes: maxBytes, replicas });
    return this.#kv;
  }
}

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
