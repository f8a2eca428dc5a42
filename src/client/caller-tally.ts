/**
 * A caller's tally for its callers' report (PROTOCOL.md §12.1): calls, no-responders and timeouts per
 * service, cumulative, and the reporter that publishes them once the connection is known.
 *
 * @module
 */
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import { type CallerReporter, MAX_CALLER_SERVICES, startCallerReporter } from "../insight/caller-report.js";
import type { CallerCounts } from "../insight/callers.js";
import { NoRespondersError, TimeoutError } from "../protocol/index.js";

/**
 * `callerReports` of `createFetch` and `MeshDispatcher`: `true` publishes the caller's report each
 * second, `{ interval }` every `interval` ms, `false` (the default) never.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ callerReports: { interval: 5000 } });
 * ```
 */
export type CallerReportsOption =
  | boolean
  | {
      /** Milliseconds between two reports (default 1000). */
      interval?: number;
    };

/** Counts per service; publishes them on `$NM.CALLERS.<kind>-<nuid>` from the first call on. */
export class CallerTally {
  readonly #counts = new Map<string, { calls: number; noResponders: number; timeouts: number }>();
  readonly #kind: string;
  readonly #interval: number | undefined;
  #reporter: CallerReporter | undefined;

  /**
   * @param kind - `fetch` or `dispatcher`
   * @param option - the caller's `callerReports` option (true or `{ interval }`)
   * @throws RangeError for an interval < 1 ms
   */
  constructor(kind: string, option: true | { interval?: number }) {
    this.#kind = kind;
    this.#interval = option === true ? undefined : option.interval;
    if (this.#interval !== undefined && !(Number.isFinite(this.#interval) && this.#interval >= 1))
      throw new RangeError(`callerReports.interval (ms) must be ≥ 1: got ${this.#interval}`);
  }

  #entry(service: string) {
    let e = this.#counts.get(service);
    if (!e && this.#counts.size < MAX_CALLER_SERVICES) {
      e = { calls: 0, noResponders: 0, timeouts: 0 };
      this.#counts.set(service, e);
    }
    return e;
  }

  /**
   * Counts one call to `service` and its outcome; starts the reports on `nc` at the first call.
   *
   * @returns `call`, unchanged
   */
  call<T>(nc: NatsConnection, service: string, call: Promise<T>): Promise<T> {
    this.#reporter ??= startCallerReporter(nc, {
      caller: `${this.#kind}-${nuid.next()}`,
      kind: this.#kind,
      ...(this.#interval !== undefined && { interval: this.#interval }),
      counts: () => this.counts(),
    });
    const e = this.#entry(service);
    if (e) e.calls++;
    call.catch((err: unknown) => {
      if (err instanceof TimeoutError) {
        const t = this.#entry(service);
        if (t) t.timeouts++;
      }
    });
    return call;
  }

  /** Counts one attempt that found no responders, when `attempt` rejects so; returns it unchanged. */
  attempt<T>(service: string, attempt: Promise<T>): Promise<T> {
    attempt.catch((err: unknown) => {
      if (err instanceof NoRespondersError) {
        const e = this.#entry(service);
        if (e) e.noResponders++;
      }
    });
    return attempt;
  }

  /** The cumulative counts. */
  counts(): CallerCounts[] {
    return [...this.#counts].map(([service, c]) => ({ service, ...c }));
  }

  /** Stops the reports (a last one marked `bye`). */
  async stop(): Promise<void> {
    await this.#reporter?.stop();
  }
}
