/**
 * How the long-running commands (`dev`, `gateway`, `fault`, `tap`, `dashboard`) wait for Ctrl-C or
 * SIGTERM: one place for the signals, the listeners' clean-up and keeping the process alive.
 *
 * @module
 */
import { once } from "node:events";

/** The signals that stop a long-running command: SIGINT (Ctrl-C) and SIGTERM (a service manager). */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** One of {@link STOP_SIGNALS}. */
export type StopSignalName = (typeof STOP_SIGNALS)[number];

/**
 * Resolves with the first stop signal the process receives. Once `abort` aborts (the command's
 * clean-up), the listeners are removed and the promise rejects with an AbortError, which is already
 * handled: an unawaited one never surfaces as an unhandled rejection.
 *
 * @param abort - ends the wait and removes the listeners
 * @returns the signal's name
 * @example
 * ```ts
 * const controller = new AbortController();
 * const stopped = nextStopSignal(controller.signal);
 * console.log(await holdOpenUntil(stopped)); // "SIGINT"
 * controller.abort();
 * ```
 */
export function nextStopSignal(abort: AbortSignal): Promise<StopSignalName> {
  const received = Promise.race(
    STOP_SIGNALS.map((name) => once(process, name, { signal: abort }).then(() => name)),
  );
  received.catch(() => {});
  return received;
}

/**
 * Waits for `until` while keeping the event loop alive: signal listeners alone do not, so a command
 * whose other handles are unref'd would exit at once.
 *
 * @param until - what ends the wait (typically {@link nextStopSignal})
 * @returns what `until` resolves to
 * @example
 * ```ts
 * const signal = await holdOpenUntil(nextStopSignal(controller.signal));
 * ```
 */
export async function holdOpenUntil<T>(until: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    return await until;
  } finally {
    clearInterval(keepAlive);
  }
}
