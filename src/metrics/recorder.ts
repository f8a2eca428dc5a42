/**
 * Per-service request accounting in plain typed arrays: what the request path updates. Turning it
 * into Prometheus metrics happens only when something scrapes (see `collectors.ts`).
 *
 * @module
 */
import { METHOD_LABELS, methodIndex } from "./labels.js";

const METHODS = METHOD_LABELS.length;
/** Statuses kept in the dense table: 100 to 599, as the wire protocol allows. */
const FIRST_STATUS = 100;
const STATUSES = 500;

/**
 * Counters and a duration histogram of one service, shared by every instance of it that uses the
 * same {@link MeshMetrics} (or of one gateway route and service). Recording is O(1) and allocates
 * nothing after a method's first request.
 *
 * @example
 * ```ts
 * const recorder = createMetrics().recorder("orders");
 * recorder.start();
 * recorder.finish("GET", 200, 0.012); // method, status, seconds
 * ```
 */
export class ServiceRecorder {
  /** The service name. */
  readonly service: string;
  /** The labels that name this recorder's series (`{ service }` unless given), method and status aside. */
  readonly labels: Readonly<Record<string, string>>;
  /** Requests running now, over the instances recording here. */
  inFlight = 0;
  /** Messages that could not be decoded or had no reply subject. */
  malformed = 0;
  /** Access records published (`serve({ accessRecords })`, PROTOCOL.md §11). */
  accessRecords = 0;
  /** Access records dropped: their buffer was full (the connection down) or NATS refused them. */
  accessRecordsDropped = 0;
  /** Upper bounds of the duration buckets, in seconds. */
  readonly bounds: readonly number[];
  readonly #bounds: Float64Array;
  /** Per method: answers by status (index status - 100), allocated at the method's first answer. */
  readonly #answers: Array<Float64Array | undefined> = new Array(METHODS).fill(undefined);
  /** Answers with a status outside 100-599 (rare; a Node handler can set any 3-digit status). */
  #oddAnswers: Map<number, number> | undefined;
  /** Per method: one count per bucket, then the overflow (+Inf only) count. */
  readonly #buckets: Float64Array;
  readonly #sums = new Float64Array(METHODS);
  /** Deduplication outcomes, allocated at the first. */
  #dedupe: Map<string, number> | undefined;

  /**
   * @param service - the service name
   * @param bounds - bucket upper bounds in seconds, increasing
   * @param labels - the series' labels (default `{ service }`)
   */
  constructor(service: string, bounds: readonly number[], labels?: Readonly<Record<string, string>>) {
    this.service = service;
    this.labels = labels ?? { service };
    this.bounds = bounds;
    this.#bounds = Float64Array.from(bounds);
    this.#buckets = new Float64Array(METHODS * (bounds.length + 1));
  }

  /** A request starts running. */
  start(): void {
    this.inFlight++;
  }

  /**
   * A request was answered.
   *
   * @param method - the request method as sent
   * @param status - the answer's status
   * @param seconds - how long the handler took
   */
  finish(method: string, status: number, seconds: number): void {
    this.inFlight--;
    this.record(method, status, seconds);
  }

  /**
   * Counts an answer and its duration, without touching {@link ServiceRecorder.inFlight}.
   *
   * @param method - the request method as sent
   * @param status - the answer's status
   * @param seconds - how long it took
   */
  record(method: string, status: number, seconds: number): void {
    const m = methodIndex(method);
    const s = status - FIRST_STATUS;
    if (s >= 0 && s < STATUSES) {
      const row = this.#answers[m] ?? this.#newRow(m);
      row[s]!++;
    } else {
      this.#countOdd(m * 1000 + status);
    }
    const bounds = this.#bounds;
    let b = 0;
    while (b < bounds.length && seconds > bounds[b]!) b++;
    this.#buckets[m * (bounds.length + 1) + b]!++;
    this.#sums[m]! += seconds;
  }

  /** A message was malformed (answered 400, or dropped without a reply subject). */
  countMalformed(): void {
    this.malformed++;
  }

  /**
   * Counts one outcome of deduplication (`serve({ dedupe })`): `executed`, `replayed`, `conflict`,
   * `mismatch`, `not_kept`, `takeover`, `store_error`, `fallback`, `unchecked`.
   *
   * @param outcome - the outcome's label
   */
  countDedupe(outcome: string): void {
    this.#dedupe ??= new Map();
    this.#dedupe.set(outcome, (this.#dedupe.get(outcome) ?? 0) + 1);
  }

  /**
   * Visits every deduplication outcome counted at least once.
   *
   * @param visit - called with the outcome and its count
   */
  forEachDedupe(visit: (outcome: string, count: number) => void): void {
    for (const [outcome, count] of this.#dedupe ?? []) visit(outcome, count);
  }

  /**
   * Visits every (method, status) pair answered at least once.
   *
   * @param visit - called with the method label, the status and the number of answers
   */
  forEachAnswer(visit: (method: string, status: number, count: number) => void): void {
    for (let m = 0; m < METHODS; m++) {
      const row = this.#answers[m];
      if (!row) continue;
      for (let s = 0; s < STATUSES; s++) if (row[s]! > 0) visit(METHOD_LABELS[m]!, s + FIRST_STATUS, row[s]!);
    }
    for (const [key, count] of this.#oddAnswers ?? []) {
      visit(METHOD_LABELS[Math.floor(key / 1000)]!, key % 1000, count);
    }
  }

  /**
   * Visits the duration histogram of every method answered at least once.
   *
   * @param visit - called with the method label, the cumulative count per bucket (same order as
   *   {@link ServiceRecorder.bounds}), the sum of durations in seconds and the number of answers
   */
  forEachHistogram(visit: (method: string, cumulative: number[], sum: number, count: number) => void): void {
    const finite = this.#bounds.length;
    for (let m = 0; m < METHODS; m++) {
      const row = m * (finite + 1);
      const cumulative: number[] = [];
      let acc = 0;
      for (let b = 0; b < finite; b++) {
        acc += this.#buckets[row + b]!;
        cumulative.push(acc);
      }
      // The count is the last cumulative bucket plus the overflow (+Inf only) bucket.
      const count = acc + this.#buckets[row + finite]!;
      if (count > 0) visit(METHOD_LABELS[m]!, cumulative, this.#sums[m]!, count);
    }
  }

  #newRow(m: number): Float64Array {
    const row = new Float64Array(STATUSES);
    this.#answers[m] = row;
    return row;
  }

  #countOdd(key: number): void {
    this.#oddAnswers ??= new Map();
    this.#oddAnswers.set(key, (this.#oddAnswers.get(key) ?? 0) + 1);
  }
}
