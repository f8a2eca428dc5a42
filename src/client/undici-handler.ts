import type { Dispatcher } from "undici";

/**
 * One place that speaks both shapes of undici handler: the legacy callbacks (`onConnect`, `onHeaders`,
 * `onData`, `onComplete`, `onError`) that undici 7's `request` and `fetch` still use, and the
 * controller-based ones (`onRequestStart`, `onResponseStart`, ...) of undici 7 interceptors and 8.
 */
export interface HandlerSink {
  /** The request starts; `abort` cancels it. */
  start(abort: (reason?: Error) => void): void;
  /** Status and headers arrived (headers as alternating names and values). */
  headers(status: number, headers: string[], statusText: string): void;
  /** A chunk of the body arrived; false when the handler asks to pause until {@link HandlerSink.resumed}. */
  data(chunk: Buffer): boolean;
  /** Resolves when a paused handler asks for more (at once when it is not paused). */
  resumed(): Promise<void>;
  /** The response ended. */
  end(): void;
  /** The request failed. */
  error(err: Error): void;
}

function headerObject(list: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    const value = list[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

/** Wraps an undici handler of either shape in a {@link HandlerSink}. */
export function toSink(handler: Dispatcher.DispatchHandler): HandlerSink {
  let paused = false;
  let wake: (() => void) | undefined;
  const resume = () => {
    paused = false;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const resumed = (): Promise<void> =>
    paused
      ? new Promise<void>((r) => {
          wake = r;
        })
      : Promise.resolve();
  if (typeof handler.onResponseStart === "function" || typeof handler.onRequestStart === "function") {
    let aborted = false;
    let reason: Error | undefined;
    let abortFn: (reason?: Error) => void = () => undefined;
    const controller = {
      abort(r?: Error) {
        aborted = true;
        reason = r;
        abortFn(r);
        resume();
      },
      pause() {
        paused = true;
      },
      resume,
      get paused() {
        return paused;
      },
      get aborted() {
        return aborted;
      },
      get reason() {
        return reason ?? null;
      },
    } as unknown as Dispatcher.DispatchController;
    return {
      start(abort) {
        abortFn = abort;
        handler.onRequestStart?.(controller, {});
      },
      headers(status, list, statusText) {
        handler.onResponseStart?.(controller, status, headerObject(list), statusText);
      },
      data(chunk) {
        handler.onResponseData?.(controller, chunk);
        return !paused;
      },
      resumed,
      end() {
        handler.onResponseEnd?.(controller, {});
      },
      error(err) {
        handler.onResponseError?.(controller, err);
      },
    };
  }
  return {
    start(abort) {
      handler.onConnect?.((reason) => {
        abort(reason);
        resume();
      });
    },
    headers(status, list, statusText) {
      const go = handler.onHeaders?.(
        status,
        list.map((v) => Buffer.from(v, "latin1")),
        resume,
        statusText,
      );
      if (go === false) paused = true;
    },
    data(chunk) {
      if (handler.onData?.(chunk) === false) paused = true;
      return !paused;
    },
    resumed,
    end() {
      handler.onComplete?.([]);
    },
    error(err) {
      handler.onError?.(err);
    },
  };
}
