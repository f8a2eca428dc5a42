import type { EndpointCounters } from "../discovery/documents.js";

/**
 * Counters of one instance.
 *
 * @example
 * ```ts
 * const { requests, errors, inFlight, queued } = svc.stats();
 * ```
 */
export interface ServiceStats {
  /** Requests answered (including error answers). */
  requests: number;
  /** Answers with status ≥ 500, and malformed messages. */
  errors: number;
  /** The last of those errors (`"500 Internal Server Error"`, `"400 NM_ERR_MALFORMED: ..."`), `""` when none. */
  lastError: string;
  /** Messages that could not be decoded or had no reply subject. */
  malformed: number;
  /**
   * Requests whose caller gave up (its timeout or abort) before the answer: never errors. Counted
   * apart from `requests`; the handler's answer, if it came, was dropped.
   */
  cancelled: number;
  /** Total time handlers took for the answered requests, in nanoseconds. */
  processingNanos: number;
  /** Requests running now. */
  inFlight: number;
  /** Requests waiting for a concurrency slot. */
  queued: number;
}

/**
 * The counts behind an instance's {@link ServiceStats} and its `$SRV.STATS` endpoint counters,
 * kept by the request path (intake and answers) and read by the instance.
 */
export class InstanceStats {
  #requests = 0;
  #errors = 0;
  #lastError = "";
  #malformed = 0;
  #cancelled = 0;
  /** Malformed messages without a reply subject (handled, never answered). */
  #dropped = 0;
  /** Total handler time of answered requests, in milliseconds. */
  #busyMs = 0;

  /** Counts a request answered (an error answer too). */
  answered(): void {
    this.#requests++;
  }

  /** Counts an error: an answer with status ≥ 500, or a malformed message (see {@link malformed}). */
  failed(reason: string): void {
    this.#errors++;
    this.#lastError = reason;
  }

  /** Counts a message that is not a request the instance can run; it is an error too. */
  malformed(reason: string): void {
    this.#malformed++;
    this.failed(reason);
  }

  /** Counts a request whose caller gave up before its answer: not an error. */
  cancelled(): void {
    this.#cancelled++;
  }

  /** Counts a message without a reply subject: handled, never answered. */
  dropped(): void {
    this.#dropped++;
  }

  /** Adds the time a handler took for an answered request. */
  busy(ms: number): void {
    this.#busyMs += ms;
  }

  /**
   * A snapshot of the counts.
   *
   * @param inFlight - requests running now.
   * @param queued - requests waiting for a concurrency slot.
   */
  snapshot(inFlight: number, queued: number): ServiceStats {
    return {
      requests: this.#requests,
      errors: this.#errors,
      lastError: this.#lastError,
      malformed: this.#malformed,
      cancelled: this.#cancelled,
      processingNanos: Math.round(this.#busyMs * 1e6),
      inFlight,
      queued,
    };
  }

  /**
   * The endpoint counters of the micro protocol's `$SRV.STATS`: dropped messages and cancelled
   * requests count as requests (never as errors).
   */
  endpoint(): EndpointCounters {
    return {
      requests: this.#requests + this.#dropped + this.#cancelled,
      errors: this.#errors,
      lastError: this.#lastError,
      processingNanos: this.#busyMs * 1e6,
      cancelled: this.#cancelled,
    };
  }
}
