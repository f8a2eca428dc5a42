/**
 * Deduplication of keyed requests (`serve({ dedupe })`, docs/TRAFFIC.md §8): a wrapper around an
 * instance's {@link WireHandler} that runs a request with an `Idempotency-Key` at most once per key
 * across every instance of the service, and replays the first answer to repeats.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  type DedupeRecord,
  type DedupeStore,
  fingerprint,
  IDEMPOTENCY_KEY_HEADER,
  NO_LEADER,
  REPLAYED_HEADER,
  RecentKeys,
  RecordState,
  recordKey,
} from "../dedupe/index.js";
import type { ServiceRecorder } from "../metrics/recorder.js";
import { ErrorCode, headerValue, MeshError, MeshHeader, type WireResponse } from "../protocol/index.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { RequestContext, WireHandler } from "./adapters/types.js";
import { collectUpTo } from "./collect-answer.js";
import { Renewal } from "./dedupe-renewal.js";
import type { RequestControl } from "./exchange.js";

/** Defaults of {@link DedupeOptions}. */
export const DEDUPE_DEFAULTS = {
  bucket: "natsmesh-dedupe",
  ttl: 24 * 60 * 60 * 1000,
  maxBytes: 256 * 1024 * 1024,
  replicas: 1,
  maxAnswer: 64 * 1024,
  lease: 10_000,
  wait: 30_000,
  unavailable: "reject",
  storeTimeout: 1000,
  storeRetry: 10_000,
} as const;

/**
 * Options of deduplication (`serve(handler, { dedupe })`); every one has a default.
 *
 * @example
 * ```ts
 * await serve(app, {
 *   service: "payments",
 *   dedupe: { bucket: "payments-dedupe", ttl: 24 * 3_600_000, replicas: 3, unavailable: "reject" },
 * });
 * ```
 */
export interface DedupeOptions {
  /** NATS KV bucket of the records (default `natsmesh-dedupe`); created when missing, else used as it is. */
  bucket?: string;
  /** Milliseconds a record is kept after its last write: the bucket's TTL (default 24 h). */
  ttl?: number;
  /** Largest size of the bucket in bytes (default 256 MiB); when full, new keys get 503. */
  maxBytes?: number;
  /**
   * Copies of the bucket in a JetStream cluster (default 1; 3 or 5 so that losing a node keeps the
   * store), set when the bucket is created.
   */
  replicas?: number;
  /**
   * Largest answer body kept, in bytes (default 64 KiB). A larger answer goes to its caller, and
   * repeats get 409 `NM_ERR_DEDUPE_NOT_KEPT` instead of running the handler again.
   */
  maxAnswer?: number;
  /**
   * Milliseconds a running record stays claimed without renewal (default 10 000). The instance
   * running the handler renews it every third of this; a repeat that sees it unrenewed for this
   * long (its instance died) takes the key over and runs the handler.
   */
  lease?: number;
  /**
   * Milliseconds a repeat waits for the first execution to finish (default 30 000, also bounded by
   * its caller's deadline and the instance's timeout); past it, 409 `NM_ERR_DEDUPE_IN_PROGRESS`.
   * 0 answers 409 at once, as the IETF draft suggests.
   */
  wait?: number;
  /**
   * When the store cannot be reached: `reject` (default) waits for it within `storeRetry` (a KV
   * leader election), then answers 503 `NM_ERR_DEDUPE_UNAVAILABLE` without running the handler;
   * `run` waits as much, then runs it anyway (at least once, as without deduplication), logged and
   * counted as `fallback`. `run-unclaimed` does not wait for a leader election: a new key whose claim
   * meets no leader runs at once, unclaimed, unless a read of the key or this instance's own recent
   * keys show it ran (logged, counted as `unclaimed`; its answer is kept once the bucket has a leader
   * again). A repeat of a key that ran on another instance, arriving while the bucket has no leader
   * and cannot be read, may run again: docs/TRAFFIC.md §8.
   */
  unavailable?: "reject" | "run" | "run-unclaimed";
  /** Milliseconds one operation on the store waits for its answer (default 1000). */
  storeTimeout?: number;
  /**
   * Milliseconds within which a store operation that met no answer or no leader (a JetStream node
   * lost, the bucket's replicas electing another) is tried again before the store counts as
   * unavailable (default 10 000; 0: tried once).
   */
  storeRetry?: number;
}

/** What {@link deduplicate} needs beside the handler. */
export interface DedupeParts {
  service: string;
  instance: string;
  store: DedupeStore;
  settings: Required<DedupeOptions>;
  /** The instance's handler timeout (0: none): renewals stop past it. */
  timeout: number;
  recorder: ServiceRecorder | undefined;
  log: Logger;
}

/** Outcomes counted in `natsmesh_service_dedupe_total{outcome}`. */
export const DedupeOutcome = {
  /** A keyed request claimed its key and ran the handler. */
  Executed: "executed",
  /** A repeat got the kept answer. */
  Replayed: "replayed",
  /** A repeat was still running elsewhere past the wait: 409. */
  Conflict: "conflict",
  /** The key was first used with a different request: 422. */
  Mismatch: "mismatch",
  /** The first answer was too large to keep: 409 to the repeat. */
  NotKept: "not_kept",
  /** A repeat took over a key whose running record was not renewed within the lease. */
  Takeover: "takeover",
  /** The store failed (the request was answered 503, or run per `unavailable: "run"`). */
  StoreError: "store_error",
  /** The handler ran without deduplication because the store failed (`unavailable: "run"`). */
  Fallback: "fallback",
  /** The claim met no leader and the handler ran unclaimed (`unavailable: "run-unclaimed"`). */
  Unclaimed: "unclaimed",
  /** A key run unclaimed was claimed by another execution before its answer could be kept: it may have run twice. */
  UnclaimedConflict: "unclaimed_conflict",
  /** A request whose body streams: not deduplicated (its fingerprint is unknown before it runs). */
  Unchecked: "unchecked",
} as const;
export type DedupeOutcome = (typeof DedupeOutcome)[keyof typeof DedupeOutcome];

/**
 * Methods RFC 9110 defines as idempotent: running one twice changes nothing, so a key on them is not
 * deduplicated (the Idempotency-Key draft is for POST, PATCH and the like).
 */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** First and largest pause between two reads of a running record. */
const POLL_FIRST_MS = 10;
const POLL_MAX_MS = 250;

/** Longest wait for a read of the key while the bucket has no leader (`run-unclaimed`). */
const LEADERLESS_READ_MS = 250;
/** Keys an instance remembers having run, for `run-unclaimed`, and their answers' bytes in all. */
const RECENT_KEYS = 10_000;
const RECENT_BYTES = 16 * 1024 * 1024;

/**
 * Wraps `inner` so that requests with an `Idempotency-Key` run once per key (see the module).
 * Requests without one, and those of an idempotent method (GET, PUT, ...), go straight to `inner`.
 */
export function deduplicate(inner: WireHandler, parts: DedupeParts): WireHandler {
  const run = new KeyedRun(inner, parts);
  return (req, ctx, control) => {
    if (IDEMPOTENT_METHODS.has(req.method.toUpperCase())) return inner(req, ctx, control);
    const key = headerValue(req.headers, IDEMPOTENCY_KEY_HEADER);
    if (key === undefined || key === "") return inner(req, ctx, control);
    if (req.streamed || req.stream !== undefined) {
      parts.recorder?.countDedupe(DedupeOutcome.Unchecked);
      return inner(req, ctx, control);
    }
    return run.answer(recordKey(parts.service, key), fingerprint(req), req, ctx, control);
  };
}

type Req = Parameters<WireHandler>[0];

class KeyedRun {
  readonly #inner: WireHandler;
  readonly #p: DedupeParts;
  /** This instance's recent keys, with `run-unclaimed` only. */
  readonly #recent: RecentKeys | undefined;

  constructor(inner: WireHandler, parts: DedupeParts) {
    this.#inner = inner;
    this.#p = parts;
    if (parts.settings.unavailable === "run-unclaimed")
      this.#recent = new RecentKeys(RECENT_KEYS, RECENT_BYTES, parts.settings.ttl);
  }

  #count(outcome: DedupeOutcome): void {
    this.#p.recorder?.countDedupe(outcome);
  }

  async answer(
    key: string,
    fp: string,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse> {
    const { store, settings, instance } = this.#p;
    const mine: DedupeRecord = { state: RecordState.Running, fingerprint: fp, instance, claim: randomUUID() };
    const waitUntil = performance.now() + settings.wait;
    let pause = POLL_FIRST_MS;
    /** The running record's revision as last seen, and since when (this instance's clock). */
    let seen = { revision: 0, since: 0 };
    /** Whether the key looked free when last read (at first, it is tried), and at which revision. */
    let free: number | undefined = 0;
    /** With `run-unclaimed`, the first claim is tried once: no leader does not make it wait. */
    let first = this.#recent !== undefined;
    try {
      for (;;) {
        if (first) {
          first = false;
          // A key run here whose answer may not be in the store yet (run unclaimed, kept later).
          const known = await this.#recentAnswer(key, mine, req);
          if (known !== undefined) return known;
          const now = await store.claimNow(key, mine);
          if (now === NO_LEADER) {
            const answered = await this.#withoutLeader(key, mine, req, ctx, control);
            if (answered !== undefined) return answered;
          } else if (now !== undefined) {
            this.#count(DedupeOutcome.Executed);
            return await this.#execute(key, mine, now, req, ctx, control);
          }
        } else if (free !== undefined) {
          const claimed = await store.claim(key, mine, free);
          if (claimed !== undefined) {
            this.#count(DedupeOutcome.Executed);
            return await this.#execute(key, mine, claimed, req, ctx, control);
          }
        }
        const stored = await store.read(key);
        // Expired, or given back (a handler that threw), since it was written: claim it again.
        free = stored === undefined ? 0 : stored.record === undefined ? stored.revision : undefined;
        if (stored?.record === undefined) continue;
        const { record, revision, written } = stored;
        if (record.fingerprint !== fp) return this.#mismatch(req);
        if (record.state === RecordState.Done) return this.#replay(record);
        if (record.state === RecordState.NotKept) return this.#notKept(record);
        // Running elsewhere (or here): wait for it, within the lease, the wait and the caller.
        const now = performance.now();
        if (revision !== seen.revision) seen = { revision, since: now };
        // Unrenewed for a lease as this instance watched it, or (by the server's clock, with room
        // for the two clocks to differ) for twice the lease before this repeat came.
        const stale = Date.now() - written.getTime() >= 2 * settings.lease;
        // Renewals fail while the store is unreachable: its owner gets a full lease after that.
        const renewable = now - store.unreachableAt < settings.lease;
        if (!renewable && (stale || now - seen.since >= settings.lease)) {
          const taken = await store.replace(key, mine, revision);
          if (taken !== undefined) {
            this.#p.log.warn(
              { key, from: record.instance, lease: settings.lease },
              "deduplication: took over a key whose running record was not renewed; running it again",
            );
            this.#count(DedupeOutcome.Takeover);
            this.#count(DedupeOutcome.Executed);
            return await this.#execute(key, mine, taken, req, ctx, control);
          }
          continue;
        }
        if (control?.signal.aborted) return this.#conflict(record, false);
        if (now >= waitUntil) return this.#conflict(record, true);
        await sleep(Math.min(pause, Math.max(1, waitUntil - now)));
        pause = Math.min(pause * 2, POLL_MAX_MS);
      }
    } catch (err) {
      if (!(err instanceof MeshError) || err.code !== ErrorCode.DedupeUnavailable) throw err;
      return this.#unavailable(err, req, ctx, control);
    }
  }

  /** Runs the handler for a claimed key, renewing the claim, then keeps its answer. */
  async #execute(
    key: string,
    mine: DedupeRecord,
    revision: number,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse> {
    const running = this.#executeClaimed(key, mine, revision, req, ctx, control);
    this.#recent?.running(key, mine.fingerprint, running);
    return running;
  }

  async #executeClaimed(
    key: string,
    mine: DedupeRecord,
    revision: number,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse> {
    const { store, settings, log } = this.#p;
    const claim = { revision, lost: false };
    const renewal = new Renewal(settings.lease, this.#p.timeout, async () => {
      const next = await store.replace(key, mine, claim.revision).catch((err: unknown) => {
        log.warn({ err, key }, "deduplication: could not renew a running record");
        return claim.revision;
      });
      if (next === undefined) {
        claim.lost = true;
        return false;
      }
      claim.revision = next;
      return true;
    });
    let res: WireResponse;
    try {
      res = await this.#run(req, ctx, control);
    } finally {
      await renewal.stop();
    }
    try {
      await this.#keep(key, mine, claim, res);
    } catch (err) {
      // The handler ran: its caller gets its answer; a repeat may find the running record and, once
      // its lease is over, run the handler again.
      this.#count(DedupeOutcome.StoreError);
      log.error({ err, key }, "deduplication: could not keep the answer; a repeat may run the request again");
    }
    return res;
  }

  /** Writes the answer (or a marker) over the claim; an error of natsmesh's own gives the key back. */
  async #keep(
    key: string,
    mine: DedupeRecord,
    claim: { revision: number; lost: boolean },
    res: WireResponse,
  ): Promise<void> {
    const { store, log } = this.#p;
    if (claim.lost) {
      log.warn(
        { key },
        "deduplication: the claim was taken over while the handler ran; its answer is not kept",
      );
      return;
    }
    const record = this.#recordOf(mine, res);
    if (record === undefined) {
      // The handler threw (or natsmesh answered for it): nothing worth replaying, a repeat runs again.
      this.#recent?.forget(key);
      await store.release(key, claim.revision);
      return;
    }
    this.#recent?.done(key, record);
    if ((await store.replace(key, record, claim.revision)) === undefined) {
      log.warn(
        { key },
        "deduplication: the claim was taken over while the handler ran; its answer is not kept",
      );
    }
  }

  /** Runs the handler, reading a streamed answer up to `maxAnswer`; a failing body is a 500. */
  async #run(req: Req, ctx: RequestContext, control: RequestControl | undefined): Promise<WireResponse> {
    try {
      const res = await this.#inner(req, ctx, control);
      return res.stream === undefined ? res : await collectUpTo(res, this.#p.settings.maxAnswer);
    } catch (err) {
      // The body of the handler's answer failed while it was read: a 500, and the key given back.
      ctx.onError(err);
      return internalError();
    }
  }

  /** The record to keep for an answer: undefined for natsmesh's own errors (nothing to replay). */
  #recordOf(mine: DedupeRecord, res: WireResponse): DedupeRecord | undefined {
    if (headerValue(res.headers, MeshHeader.Error) !== undefined) return undefined;
    if (res.stream !== undefined || res.body.byteLength > this.#p.settings.maxAnswer) {
      const size = res.stream !== undefined ? undefined : res.body.byteLength;
      this.#count(DedupeOutcome.NotKept);
      return { ...mine, state: RecordState.NotKept, status: res.status, size };
    }
    return { ...mine, state: RecordState.Done, answer: res };
  }

  /**
   * `run-unclaimed`: the claim met no leader. The key is read (a replica may answer without a
   * leader), then looked up among this instance's recent keys; unknown to both, it runs unclaimed.
   *
   * @returns the answer, or undefined when the store holds a record: the caller goes on as usual
   */
  async #withoutLeader(
    key: string,
    mine: DedupeRecord,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse | undefined> {
    const stored = await this.#p.store.readNow(key, LEADERLESS_READ_MS);
    if (stored !== NO_LEADER && stored?.record !== undefined) {
      // The claim was written, its answer lost: it is this execution's.
      if (stored.record.claim !== mine.claim) return undefined;
      this.#count(DedupeOutcome.Executed);
      return this.#execute(key, mine, stored.revision, req, ctx, control);
    }
    const known = await this.#recentAnswer(key, mine, req);
    if (known !== undefined) return known;
    return this.#runUnclaimed(
      key,
      mine,
      stored === NO_LEADER ? undefined : (stored?.revision ?? 0),
      req,
      ctx,
      control,
    );
  }

  /**
   * The answer to `key` from this instance's recent keys: its kept record replayed, once a run of it
   * here ends; undefined when this instance knows nothing of it.
   */
  async #recentAnswer(key: string, mine: DedupeRecord, req: Req): Promise<WireResponse | undefined> {
    for (;;) {
      const known = this.#recent!.get(key);
      if (known === undefined) return undefined;
      if ("running" in known) {
        if (known.fingerprint !== mine.fingerprint) return this.#mismatch(req);
        await known.running;
        continue;
      }
      if (known.record.fingerprint !== mine.fingerprint) return this.#mismatch(req);
      return known.record.state === RecordState.Done
        ? this.#replay(known.record)
        : this.#notKept(known.record);
    }
  }

  /**
   * Runs the handler without a claim, then keeps its answer once the bucket takes writes again
   * (`after`: the key's revision as read, undefined when it could not be read).
   */
  async #runUnclaimed(
    key: string,
    mine: DedupeRecord,
    after: number | undefined,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse> {
    const { log } = this.#p;
    this.#count(DedupeOutcome.Unclaimed);
    log.warn(
      { key, read: after !== undefined },
      "deduplication: the store has no leader; running the request unclaimed (at least once)",
    );
    const running = this.#run(req, ctx, control);
    this.#recent!.running(key, mine.fingerprint, running);
    const res = await running;
    const record = this.#recordOf(mine, res);
    if (record === undefined) {
      this.#recent!.forget(key);
      return res;
    }
    this.#recent!.done(key, record);
    this.#keepUnclaimed(key, record, after ?? 0).then(
      (kept) => {
        if (kept) return;
        this.#count(DedupeOutcome.UnclaimedConflict);
        log.error({ key }, "deduplication: a key run unclaimed was claimed meanwhile; it may have run twice");
      },
      (err: unknown) => {
        this.#count(DedupeOutcome.StoreError);
        log.error({ err, key }, "deduplication: could not keep the answer of a key run unclaimed");
      },
    );
    return res;
  }

  /**
   * Writes the record of a key run unclaimed, as a claim tried again through the election; false
   * when another execution holds the key. This request's own claim, written though no answer said
   * so, is replaced.
   */
  async #keepUnclaimed(key: string, record: DedupeRecord, after: number): Promise<boolean> {
    const { store } = this.#p;
    if ((await store.claim(key, record, after)) !== undefined) return true;
    const now = await store.read(key);
    const own = now?.record?.claim === record.claim && now?.record?.state === RecordState.Running;
    return own && (await store.replace(key, record, now!.revision)) !== undefined;
  }

  #replay(record: DedupeRecord): WireResponse {
    this.#count(DedupeOutcome.Replayed);
    const answer = record.answer!;
    return { ...answer, headers: [...answer.headers, REPLAYED_HEADER, "true"] };
  }

  #mismatch(req: Req): WireResponse {
    this.#count(DedupeOutcome.Mismatch);
    this.#p.log.info(
      { method: req.method, path: req.path },
      "deduplication: Idempotency-Key reused for another request",
    );
    return errorResponse(
      422,
      ErrorCode.DedupeMismatch,
      "this Idempotency-Key was used for a different request (method, path or body)",
    );
  }

  #notKept(record: DedupeRecord): WireResponse {
    this.#count(DedupeOutcome.NotKept);
    const size = record.size === undefined ? "" : ` of ${record.size} bytes`;
    return errorResponse(
      409,
      ErrorCode.DedupeNotKept,
      `the request with this Idempotency-Key was executed (status ${record.status}), but its answer${size} was larger than the service keeps (${this.#p.settings.maxAnswer} bytes)`,
    );
  }

  /** The 409 to a repeat that waited in vain; `count` false when its caller left (its answer is dropped). */
  #conflict(record: DedupeRecord, count: boolean): WireResponse {
    if (count) this.#count(DedupeOutcome.Conflict);
    this.#p.log.info(
      { from: record.instance },
      "deduplication: a repeat found its first execution still running",
    );
    return errorResponse(
      409,
      ErrorCode.DedupeInProgress,
      "a request with this Idempotency-Key is still being processed; retry later",
    );
  }

  async #unavailable(
    err: MeshError,
    req: Req,
    ctx: RequestContext,
    control: RequestControl | undefined,
  ): Promise<WireResponse> {
    this.#count(DedupeOutcome.StoreError);
    if (this.#p.settings.unavailable === "run") {
      this.#count(DedupeOutcome.Fallback);
      this.#p.log.warn({ err }, "deduplication store unavailable: running the request without deduplication");
      return this.#inner(req, ctx, control);
    }
    this.#p.log.error({ err }, "deduplication store unavailable: request refused (503)");
    return errorResponse(503, ErrorCode.DedupeUnavailable, "the deduplication store is unavailable");
  }
}
