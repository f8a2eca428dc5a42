/** Small helpers shared by test files. */
import { createServer } from "node:net";
import { afterEach } from "vitest";

/** A loopback port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => srv.once("listening", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

type Stoppable = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

/**
 * Registers an `afterEach` that stops (or closes), in reverse order, everything passed to the
 * returned `track` during a test — also when the test fails.
 */
export function stopAfterEach(): <T extends Stoppable>(s: T) => T {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  });
  return (s) => {
    cleanups.push(() => ("stop" in s ? s.stop() : s.close()));
    return s;
  };
}
