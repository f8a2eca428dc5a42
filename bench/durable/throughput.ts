/**
 * Durable requests against live ones (PROTOCOL.md §13): the same keyed POSTs to one instance,
 * live (answer in the response), and durable (`createFetch({ durable: true })`, `Prefer:
 * respond-async`): the 202's round trip (with an `Idempotency-Key`, which costs a lookup first, and
 * without), and the time until the answer is stored (the record's `updated` minus the submission's
 * start, both this machine's clock), while submitters keep going.
 *
 *   npx tsx bench/durable/throughput.ts [requests=2000] [concurrency=16]
 *
 * A real nats-server with JetStream (file store, the test harness), everything else in this
 * process. Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { pino } from "pino";
import { DurableState, DurableStore } from "../../src/durable/index.js";
import { createFetch, type MeshFetch, serve } from "../../src/index.js";
import { NatsServer } from "../../test/support/nats-server.js";

const silent = pino({ level: "silent" });
const total = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function row(name: string, count: number, seconds: number, times: number[]): string {
  times.sort((a, b) => a - b);
  return `| ${name} | ${Math.round(count / seconds)} | ${percentile(times, 50).toFixed(2)} | ${percentile(times, 99).toFixed(2)} |`;
}

/** Sends `total` keyed POSTs, `concurrency` at a time; the ids of 202s with their start times. */
async function send(
  fetch: MeshFetch,
  keyPrefix: string | undefined,
  durable: boolean,
): Promise<{ seconds: number; times: number[]; submitted: Map<string, number> }> {
  const times: number[] = [];
  const submitted = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const wall = Date.now();
        const t = performance.now();
        const res = await fetch("http://orders/orders", {
          method: "POST",
          headers: {
            ...(keyPrefix !== undefined && { "idempotency-key": `${keyPrefix}-${i}` }),
            ...(durable && { prefer: "respond-async" }),
          },
          body: `order ${i}`,
        });
        const body = await res.text();
        if (res.status !== (durable ? 202 : 200)) throw new Error(`status ${res.status}: ${body}`);
        times.push(performance.now() - t);
        if (durable) submitted.set((JSON.parse(body) as { id: string }).id, wall);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, times, submitted };
}

/** Waits until every submitted id is answered; the milliseconds from each submission to its record. */
async function answered(store: DurableStore, submitted: Map<string, number>): Promise<number[]> {
  const done: number[] = [];
  const left = new Map(submitted);
  while (left.size > 0) {
    for (const [id, wall] of left) {
      const s = await store.lookup("orders", id);
      if (s?.state !== DurableState.Done) continue;
      done.push(Date.parse(s.record!.updated) - wall);
      left.delete(id);
    }
    if (left.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
  return done;
}

await using server = await NatsServer.start({ jetstream: true });
const svc = await serve(async (req: Request) => new Response(`done ${await req.text()}`), {
  service: "orders",
  connection: { servers: server.url },
  logger: silent,
  metrics: false,
  durable: true,
});
const fetch = createFetch({ connection: { servers: server.url }, durable: true });
const store = new DurableStore(svc.nc, "mesh");
// The JIT warm, the stream and bucket in use.
await answered(store, (await send(fetch, "warm", true)).submitted);
await send(fetch, "warm", false);

console.log(
  `${total} keyed POSTs, ${concurrency} at a time, one instance; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}\n`,
);
console.log("| case | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |");
const live = await send(fetch, "live", false);
console.log(row("live: POST → answer", total, live.seconds, live.times));
const startedAll = performance.now();
const durable = await send(fetch, "durable", true);
console.log(row("durable: POST → 202 (stored in the stream)", total, durable.seconds, durable.times));
const toAnswer = await answered(store, durable.submitted);
const allSeconds = (performance.now() - startedAll) / 1000;
console.log(
  row("durable: POST → answer stored (req/s: submitted to all answered)", total, allSeconds, toAnswer),
);
const unkeyed = await send(fetch, undefined, true);
console.log(
  row("durable, no Idempotency-Key (no lookup): POST → 202", total, unkeyed.seconds, unkeyed.times),
);
await answered(store, unkeyed.submitted);
await fetch.close();
await svc.stop();
