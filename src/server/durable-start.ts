/**
 * Starting an instance's {@link DurableWorker}: without JetStream (or with JetStream unreachable) the
 * instance logs why, keeps serving live requests and tries again until it stops.
 *
 * @module
 */
import { DurableWorker, type DurableWorkerParts } from "./durable-worker.js";

/** Milliseconds between two tries to start durable requests when JetStream is not there. */
export const DURABLE_RETRY_MS = 10_000;

/**
 * Starts a worker; when it cannot start, logs the error (it names JetStream when JetStream is not
 * enabled) and tries again every {@link DURABLE_RETRY_MS} until the returned handle is stopped.
 *
 * @returns what `ServiceInstance.attach` takes: `stop()` takes no more durable requests
 */
export async function startDurable(parts: DurableWorkerParts): Promise<{ stop(): void }> {
  let worker: DurableWorker | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async (first: boolean): Promise<void> => {
    const next = new DurableWorker(parts);
    try {
      await next.start();
      if (stopped) next.stop();
      else worker = next;
      if (!first) parts.log.info("durable requests: started");
    } catch (err) {
      next.stop();
      if (first)
        parts.log.error(
          { err, retryMs: DURABLE_RETRY_MS },
          `durable requests are off: ${err instanceof Error ? err.message : String(err)}; live requests are served, durable ones retried`,
        );
      if (stopped) return;
      timer = setTimeout(() => void attempt(false), DURABLE_RETRY_MS);
      timer.unref();
    }
  };
  await attempt(true);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      worker?.stop();
    },
  };
}
