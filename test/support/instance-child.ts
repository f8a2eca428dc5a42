/**
 * A service instance in a process of its own, for tests that SIGKILL or SIGSTOP it: serves the test
 * API (`apps.ts`) as service `$SERVICE` with label `$LABEL` on `$NATS_URL` (prefix `$NATS_PREFIX`),
 * prints `ready <instance id>` once subscribed, and drains on SIGTERM. Besides the test API:
 * `POST /hog?ms=N&slice=S` blocks the event loop for N ms in slices of S ms (a lagging loop) — with
 * `&until=FILE`, until FILE exists (N ms at most) — and `GET /stats` answers the instance's `stats()`. With `$TRACE`, it prints `ran <METHOD> <path>` for
 * each request its handler runs; with `$LAG_THRESHOLD`, that is its `lagThreshold`; with `$LOG`,
 * the instance logs at that level to stdout (after the ready line's); with `$DURABLE` (JSON), that is
 * its `durable` option.
 */
import { existsSync } from "node:fs";
import { pino } from "pino";
import { type ServiceHandle, serve } from "../../src/index.js";
import { fetchApp } from "./apps.js";

const app = fetchApp(process.env.LABEL ?? "child");
let svc: ServiceHandle | undefined;

/** Busy-waits `ms` milliseconds: the event loop runs nothing meanwhile. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // blocking on purpose
  }
}

async function handler(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (process.env.TRACE) process.stdout.write(`ran ${req.method} ${url.pathname}\n`);
  if (url.pathname === "/hog") {
    const total = Number(url.searchParams.get("ms") ?? 1000);
    const slice = Number(url.searchParams.get("slice") ?? total);
    const until = url.searchParams.get("until");
    for (let left = total; left > 0 && !(until && existsSync(until)); left -= slice) {
      block(Math.min(slice, left));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return new Response("hogged");
  }
  if (url.pathname === "/stats") return Response.json(svc?.stats());
  return app(req);
}

svc = await serve(handler, {
  service: process.env.SERVICE ?? "child",
  connection: { reconnectTimeWait: 100, maxReconnectAttempts: -1 },
  logger: pino({ level: process.env.LOG ?? "silent" }),
  ...(process.env.LAG_THRESHOLD !== undefined && { lagThreshold: Number(process.env.LAG_THRESHOLD) }),
  ...(process.env.DURABLE !== undefined && { durable: JSON.parse(process.env.DURABLE) }),
});
process.stdout.write(`ready ${svc.instance}\n`);
process.once("SIGTERM", () => {
  svc?.stop().then(() => process.exit(0));
});
