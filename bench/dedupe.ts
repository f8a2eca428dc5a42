/**
 * Cost of deduplication (docs/TRAFFIC.md §8): keyed POSTs to one instance with `dedupe` and to one
 * without, a fresh key each (claim + answer written to NATS KV), then the same keys again (replays).
 *
 *   npx tsx bench/dedupe.ts [requests=2000] [concurrency=16]
 *
 * A real nats-server with JetStream (the test harness), everything else in this process. Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { pino } from "pino";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import { NatsServer } from "../test/support/nats-server.js";

const silent = pino({ level: "silent" });
const total = Number(process.argv[2] ?? 2000);
const concurrency = Number(process.argv[3] ?? 16);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends `total` keyed POSTs, `concurrency` at a time; returns req/s, p50 and p99 in ms. */
async function run(fetch: MeshFetch, service: string, keyPrefix: string): Promise<string> {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        const res = await fetch(`http://${service}/orders`, {
          method: "POST",
          headers: { "idempotency-key": `${keyPrefix}-${i}` },
          body: `order ${i}`,
        });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        times.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return `${Math.round(total / seconds)} | ${percentile(times, 50).toFixed(2)} | ${percentile(times, 99).toFixed(2)}`;
}

await using server = await NatsServer.start({ jetstream: true });
const handler = async (req: Request) => new Response(`done ${await req.text()}`);
const plain = await serve(handler, {
  service: "plain",
  connection: { servers: server.url },
  logger: silent,
  metrics: false,
});
const deduped = await serve(handler, {
  service: "deduped",
  connection: { servers: server.url },
  logger: silent,
  metrics: false,
  dedupe: true,
});
const fetch = createFetch({ connection: { servers: server.url } });
await run(fetch, "deduped", "warm"); // the bucket is created, the JIT warm
console.log(
  `${total} keyed POSTs, ${concurrency} at a time; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}\n`,
);
console.log("| case | req/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |");
console.log(`| without dedupe | ${await run(fetch, "plain", "a")} |`);
console.log(`| dedupe, first use of each key | ${await run(fetch, "deduped", "a")} |`);
console.log(`| dedupe, repeats (replayed) | ${await run(fetch, "deduped", "a")} |`);
await fetch.close();
await plain.stop();
await deduped.stop();
