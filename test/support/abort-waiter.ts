/**
 * A Fetch handler that never answers on its own: it waits for its request to be aborted (the caller
 * gave up, or another copy of the request won) and only then resolves, with `too late`. What it saw is
 * kept on the returned object, so a test waits on it with `check()` rather than on a sleep.
 */

/** {@link awaitAbortHandler}'s handler and what it saw. */
export interface AbortWaiter {
  /** The Fetch handler to `serve()`. */
  readonly handler: (req: Request) => Promise<Response>;
  /** Requests the handler took so far. */
  readonly started: number;
  /** Requests whose signal aborted so far. */
  readonly aborted: number;
  /** The abort reason of the last aborted request (`undefined` until one is aborted). */
  readonly reason: unknown;
}

/**
 * A Fetch handler that answers only once its request's signal aborts.
 *
 * @returns the handler and its counters
 * @example
 * ```ts
 * const waiter = awaitAbortHandler();
 * await serve(waiter.handler, { service: "hang", nc });
 * await fetch("http://hang/", { timeout: 300 }).catch(() => undefined);
 * await check(() => waiter.aborted === 1, 5000, { name: "the handler's signal aborted" });
 * ```
 */
export function awaitAbortHandler(): AbortWaiter {
  let started = 0;
  let aborted = 0;
  let reason: unknown;
  const handler = (req: Request): Promise<Response> =>
    new Promise<Response>((resolve) => {
      started++;
      req.signal.addEventListener("abort", () => {
        aborted++;
        reason = req.signal.reason;
        resolve(new Response("too late"));
      });
    });
  return {
    handler,
    get started() {
      return started;
    },
    get aborted() {
      return aborted;
    },
    get reason() {
      return reason;
    },
  };
}
