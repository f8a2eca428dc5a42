/**
 * One hedged call: the request is sent, and when its answer is late, sent again; the first answer
 * wins and the other copies are cancelled through their abort signals (which the client's exchange
 * turns into an abort the instance sees, PROTOCOL.md §8.4).
 *
 * @module
 */
import type { WireResponse } from "../protocol/index.js";

/** What a hedged call reports; each method is called at most once per copy. */
export interface HedgeObserver {
  /** A copy was sent. */
  sent(): void;
  /** A copy (not the first request) gave the answer. */
  won(): void;
  /** A copy was due but the service's budget had no token for it. */
  exhausted(): void;
}

/** Settings of {@link hedgedCall}. */
export interface HedgedCallOptions {
  /** Milliseconds before the first copy, and between copies. */
  delay: number;
  /** Copies at most, the first request not included. */
  maxHedges: number;
  /** The call's deadline in ms from now (0: none): a copy gets what is left of it. */
  timeout: number;
  /** The caller's signal: aborts every copy, and after the answer its streamed body. */
  signal: AbortSignal | undefined;
  /** Asked for a token before each copy; false: no copy is sent. */
  take: () => boolean;
  /** Told the answer time of the copy that won, in ms from its own sending. */
  answered: (ms: number) => void;
  /** Counts copies, wins and refusals. */
  observer: HedgeObserver;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
}

/** Why the copies that lost are aborted: the message the instance sees. */
const LOST = "another copy of the request answered first";

/**
 * Runs `attempt` once, and again after each `delay` without an answer, up to `maxHedges` more
 * times while the budget allows. The first answer (its head) wins: the other copies are aborted.
 * A copy's failure waits for the copies still running; when none is left and no copy is due, the
 * call fails with the first request's error (the retry policy above decides what comes next).
 *
 * @param attempt - sends one copy, given what is left of the deadline and the copy's own signal
 * @param options - delay, copies, deadline, the caller's signal, budget and reporting
 * @returns the first answer
 * @throws the first request's error when every copy failed
 * @example
 * ```ts
 * const res = await hedgedCall((t, signal) => callService(nc, "weather", req, { prefix, timeout: t, signal }), {
 *   delay: 40, maxHedges: 1, timeout: 5000, signal: undefined, take: () => true,
 *   answered: (ms) => window.record(ms), observer,
 * });
 * ```
 */
export function hedgedCall(
  attempt: (timeout: number, signal: AbortSignal) => Promise<WireResponse>,
  options: HedgedCallOptions,
): Promise<WireResponse> {
  const { delay, maxHedges, timeout, signal, take, answered, observer } = options;
  const now = options.now ?? (() => performance.now());
  const started = now();
  return new Promise<WireResponse>((resolve, reject) => {
    const copies: AbortController[] = [];
    let running = 0;
    let hedges = 0;
    let settled = false;
    let firstError: { error: unknown } | undefined;
    let timer: NodeJS.Timeout | undefined;

    const onAbort = (): void => {
      for (const c of copies) if (!c.signal.aborted) c.abort(signal?.reason);
    };
    const stopWaiting = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const settle = (): void => {
      settled = true;
      stopWaiting();
    };

    const send = (copy: number): void => {
      const controller = new AbortController();
      if (signal?.aborted) controller.abort(signal.reason);
      copies.push(controller);
      running++;
      const sentAt = now();
      let left = 0;
      if (timeout > 0) left = copy === 0 ? timeout : Math.max(1, Math.ceil(timeout - (sentAt - started)));
      let p: Promise<WireResponse>;
      try {
        p = attempt(left, controller.signal);
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (res) => {
          running--;
          if (settled) {
            // Answered together with the winner: its streamed body is nobody's.
            res.stream?.cancel(LOST).catch(() => undefined);
            return;
          }
          settle();
          answered(now() - sentAt);
          if (copy > 0) observer.won();
          for (const c of copies) if (c !== controller) c.abort(new DOMException(LOST, "AbortError"));
          // Nothing more to abort once the body is in memory; a streamed body still follows the signal.
          if (res.stream === undefined) signal?.removeEventListener("abort", onAbort);
          resolve(res);
        },
        (error: unknown) => {
          running--;
          if (copy === 0) firstError = { error };
          if (settled || running > 0) return;
          // Nothing runs; a copy still due would only start late after a failure: the call fails
          // now and the retry policy decides (it backs off, as a copy would not).
          settle();
          signal?.removeEventListener("abort", onAbort);
          reject(firstError ? firstError.error : error);
        },
      );
    };

    const due = (): void => {
      timer = undefined;
      if (settled || signal?.aborted) return;
      if (timeout > 0 && now() - started >= timeout) return;
      if (!take()) {
        observer.exhausted();
        return;
      }
      hedges++;
      observer.sent();
      send(hedges);
      if (hedges < maxHedges && !settled) timer = setTimeout(due, delay);
    };

    signal?.addEventListener("abort", onAbort, { once: true });
    send(0);
    if (!settled && maxHedges > 0 && !signal?.aborted) timer = setTimeout(due, delay);
  });
}
