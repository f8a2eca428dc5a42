import type { ConnectionSource, ResolvedConnection } from "../connect/index.js";
import { TimeoutError } from "../protocol/index.js";

/**
 * The source's connection, waited for within the call's `timeout` (ms, 0 for none) and `signal`: a
 * call made while the connection is still being opened rejects with the signal's reason at abort, and
 * with a {@link TimeoutError} at its deadline (the connection attempt goes on for the next calls).
 *
 * @param service - the call's service, named by the timeout error
 */
export function connectWithin(
  source: ConnectionSource,
  service: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<ResolvedConnection> {
  const pending = source.get();
  if (signal === undefined && timeout <= 0) return pending;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      done();
      reject(signal!.reason);
    };
    const timer =
      timeout > 0
        ? setTimeout(() => {
            done();
            reject(new TimeoutError({ service }, timeout));
          }, timeout)
        : undefined;
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (c) => {
        done();
        resolve(c);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}

/**
 * `call`, a part of a call given what was left of its deadline, failing as the whole call: a
 * {@link TimeoutError} names the call's `deadline`, not what was left of it.
 */
export function asCallTimeout<T>(call: Promise<T>, deadline: number): Promise<T> {
  return call.catch((err: unknown) => {
    if (err instanceof TimeoutError && err.timeout !== deadline)
      throw new TimeoutError({ service: err.service, subject: err.subject }, deadline);
    throw err;
  });
}
