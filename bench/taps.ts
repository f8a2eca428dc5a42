/**
 * Cost of access records (PROTOCOL.md §11) to an instance: GET requests with a 100-byte answer to an
 * instance without records, one with records and nobody tapping, and one with records and a tap
 * reading them, in alternating rounds (A B C A B C ...) so that the machine's load shifts hit all
 * three alike.
 *
 *   npx tsx bench/taps.ts [requests per round=20000] [concurrency=64] [rounds=3]
 *
 * A real nats-server (the test harness), everything else in this process. Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { pino } from "pino";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import { AccessRecords } from "../src/server/access-records.js";
import { tap } from "../src/tap/index.js";
import { NatsServer } from "../test/support/nats-server.js";

const silent = pino({ level: "silent" });
const total = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 64);
const rounds = Number(process.argv[4] ?? 3);
const answer = "x".repeat(100);

/** Sends `total` GETs, `concurrency` at a time; returns req/s and the sorted latencies in ms. */
async function run(fetch: MeshFetch, service: string): Promise<{ rps: number; times: number[] }> {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const t = performance.now();
        const res = await fetch(`http://${service}/orders/42?q=1`);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        times.push(performance.now() - t);
      }
    }),
  );
  return { rps: total / ((performance.now() - started) / 1000), times };
}

await using server = await NatsServer.start({});
const handler = () => new Response(answer);
const common = { connection: { servers: server.url }, logger: silent, metrics: false as const };
const instances = {
  off: await serve(handler, { ...common, service: "off" }),
  quiet: await serve(handler, { ...common, service: "quiet", accessRecords: true }),
  tapped: await serve(handler, { ...common, service: "tapped", accessRecords: true }),
};
const reader = await tap("tapped", { connection: { servers: server.url } });
let read = 0;
const reading = (async () => {
  for await (const _ of reader) read++;
})();
const fetch = createFetch({ connection: { servers: server.url } });
for (const s of Object.keys(instances)) await run(fetch, s); // JIT warm-up
const results: Record<string, { rps: number[]; times: number[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const s of Object.keys(instances)) {
    const { rps, times } = await run(fetch, s);
    results[s] ??= { rps: [], times: [] };
    results[s]!.rps.push(rps);
    results[s]!.times.push(...times);
  }
}
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
console.log(
  `${rounds} rounds of ${total} GETs (100-byte answers), ${concurrency} at a time; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)}\n`,
);
console.log("| instance | req/s (median round) | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: |");
const label = {
  off: "no access records",
  quiet: "access records, no tap",
  tapped: "access records, a tap reading",
};
for (const [s, r] of Object.entries(results)) {
  const times = r.times.sort((a, b) => a - b);
  const rps = r.rps.sort((a, b) => a - b)[Math.floor(r.rps.length / 2)]!;
  console.log(
    `| ${label[s as keyof typeof label]} | ${Math.round(rps).toLocaleString("en")} | ${pct(times, 0.5).toFixed(2)} | ${pct(times, 0.99).toFixed(2)} |`,
  );
}
await fetch.close();
for (const h of Object.values(instances)) await h.stop();

// The records' own cost on an instance: add() on the request path, and its share of the turn's
// encoding and publish, 64 records per event-loop turn, on a real connection.
const { connect } = await import("../src/connect/index.js");
const mesh = await connect({ servers: server.url });
const records = new AccessRecords(mesh.nc, "mesh.bench.$TAP.b", {
  service: "bench",
  instance: "5XWzWPDGBxTzNU3JCmnaPx",
  capacity: 1024,
  recorder: undefined,
  log: silent,
});
const turn = () => new Promise((resolve) => setImmediate(resolve));
async function perRecord(n: number): Promise<{ add: number; all: number }> {
  let addMs = 0;
  const t = performance.now();
  for (let i = 0; i < n; i += 64) {
    const a = performance.now();
    for (let j = 0; j < 64; j++)
      records.add("GET", "/orders/42?q=1", 200, 1.234, "5XWzWPDGBxTzNU3JCmnaPx-17");
    addMs += performance.now() - a;
    await turn();
  }
  return { add: (addMs * 1000) / n, all: ((performance.now() - t) * 1000) / n };
}
await perRecord(100_000);
const cost = await perRecord(640_000);
console.log(
  `\nper record: add() ${cost.add.toFixed(2)} µs on the request path; with its share of the encoding and publish after the turn ${cost.all.toFixed(2)} µs (${records.dropped} dropped)`,
);
records.close();
await mesh.close();
await reader.stop();
await reading;
console.log(`\nrecords the tap read: ${read}; tap dropped (reader behind): ${reader.dropped}`);
