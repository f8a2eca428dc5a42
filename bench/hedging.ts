/**
 * Hedged requests (docs/TRAFFIC.md §9): latency and extra executions against four instances that
 * answer in `fastMs`, in two scenarios: (a) any request is slow (`slowMs`) with probability 2% (a GC
 * pause, a noisy neighbour: "The Tail at Scale"); (b) one instance of the four answers every request
 * in `slowMs`. 8 callers send GETs in a closed loop. Hedging off, then on with the defaults (p95
 * delay within 10..1000 ms, one copy, budget 10%), and variants.
 *
 *   npx tsx bench/hedging.ts [requests=2000] [slowMs=200] [fastMs=2]
 *
 * Real nats-server process (the test harness), everything else in this process. Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import type { ClientHedgeSettings } from "../src/traffic/index.js";
import { NatsServer } from "../test/support/nats-server.js";

const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const [requests = 2000, slowMs = 200, fastMs = 2] = process.argv.slice(2).map(Number);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function counter(registry: Registry, name: string): Promise<number> {
  const m = registry.getSingleMetric(name);
  return m ? ((await m.get()).values[0]?.value ?? 0) : 0;
}

/** How long instance `i` takes for one request. */
type Work = (i: number) => number;
const sometimesSlow: Work = () => (Math.random() < 0.02 ? slowMs : fastMs);
const oneSlow: Work = (i) => (i === 0 ? slowMs : fastMs);

async function run(work: Work, hedge: ClientHedgeSettings | false, label: string): Promise<string> {
  await using server = await NatsServer.start();
  const conns: NatsConnection[] = [];
  const services: ServiceHandle[] = [];
  let executions = 0;
  for (let i = 0; i < 4; i++) {
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    conns.push(nc);
    services.push(
      await serve(
        async () => {
          executions++;
          await sleep(work(i));
          return new Response("ok");
        },
        { service: "tail", nc, logger: silent, metrics: false, discovery: false },
      ),
    );
  }
  const registry = new Registry();
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  conns.push(nc);
  const fetch = createFetch({ nc, retry: false, hedge: hedge && { ...hedge, registry } });
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next++ < requests) {
        const t = performance.now();
        const res = await fetch("http://tail/");
        await res.arrayBuffer();
        times.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - started;
  times.sort((a, b) => a - b);
  const sent = await counter(registry, "natsmesh_client_hedges_sent_total");
  const won = await counter(registry, "natsmesh_client_hedges_won_total");
  const refused = await counter(registry, "natsmesh_client_hedge_budget_exhausted_total");
  for (const s of services) await s.stop({ timeout: 2000 });
  for (const c of conns) await c.close();
  const f = (v: number) => v.toFixed(1);
  return `| ${label} | ${times.length} | ${f(percentile(times, 50))} | ${f(percentile(times, 95))} | ${f(percentile(times, 99))} | ${f(times.at(-1) ?? Number.NaN)} | ${Math.round((times.length / wall) * 1000)} | ${executions} | ${sent} / ${won} / ${refused} |`;
}

console.log(
  `Hedged requests: 4 instances answering in ${fastMs} ms, slow ones in ${slowMs} ms; 8 callers, ${requests} GETs each run.`,
);
console.log(`Node ${process.version}, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}.\n`);
console.log(
  "| hedging | answers | p50 ms | p95 ms | p99 ms | max ms | req/s | executions | copies sent / won / refused |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
console.log(await run(sometimesSlow, false, "(a) 2% of requests slow: off"));
console.log(await run(sometimesSlow, {}, "(a) 2% of requests slow: on (defaults)"));
console.log(await run(oneSlow, false, "(b) 1 of 4 instances slow: off"));
console.log(await run(oneSlow, {}, "(b) 1 of 4 instances slow: on (defaults)"));
console.log(await run(oneSlow, { quantile: 0.5, budgetRatio: 0.3 }, "(b) on, quantile 0.5, budgetRatio 0.3"));
