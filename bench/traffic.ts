/**
 * Traffic figures (issue "Traffic management and resilience", Measure): requests lost and latency
 * under a 4× overload burst against 2 instances with concurrency limits, and the failover gap (the
 * longest time without a successful answer) when the node an instance is connected to is SIGKILLed.
 *
 *   npx tsx bench/traffic.ts
 *
 * Real nats-server processes (the test harness), everything else in this process. Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import type { RetrySettings } from "../src/traffic/index.js";
import { check, cluster, NatsServer } from "../test/support/nats-server.js";

const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");

/**
 * Overload: 2 instances, each `limit` handlers at once of `workMs`; capacity is
 * 2 × limit / workMs requests per ms. An open-loop burst at 4× that rate for `burstMs`.
 */
async function overload(
  limit: number,
  workMs: number,
  burstMs: number,
  retry: RetrySettings,
  label: string,
): Promise<string> {
  await using server = await NatsServer.start();
  const conns: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect({ servers: server.url, noAsyncTraces: true });
    conns.push(nc);
    return nc;
  };
  const handler = async () => {
    await sleep(workMs);
    return new Response("ok");
  };
  const svcs = [
    await serve(handler, {
      service: "burst",
      nc: await open(),
      concurrency: limit,
      logger: silent,
      metrics: false,
      discovery: false,
    }),
    await serve(handler, {
      service: "burst",
      nc: await open(),
      concurrency: limit,
      logger: silent,
      metrics: false,
      discovery: false,
    }),
  ];
  const fetch = createFetch({ nc: await open(), timeout: 30_000, retry });
  const capacityPerSec = (2 * limit * 1000) / workMs;
  const rate = 4 * capacityPerSec;
  const total = Math.round((rate * burstMs) / 1000);
  const latencies: number[] = [];
  let lost = 0;
  const calls: Array<Promise<void>> = [];
  let peakQueued = 0;
  const sampler = setInterval(() => {
    for (const s of svcs) peakQueued = Math.max(peakQueued, s.stats().queued);
  }, 5);
  const started = performance.now();
  // Send in 5 ms ticks at the burst's rate.
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.round(((performance.now() - started) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      const t0 = performance.now();
      calls.push(
        fetch("http://burst/")
          .then(async (res) => {
            await res.arrayBuffer();
            if (res.status !== 200) lost++;
            else latencies.push(performance.now() - t0);
          })
          .catch(() => {
            lost++;
          }),
      );
    }
    await sleep(5);
  }
  await Promise.all(calls);
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  for (const s of svcs) await s.stop();
  await fetch.close();
  for (const nc of conns) await nc.close();
  latencies.sort((a, b) => a - b);
  return `| ${limit} × ${workMs} ms | ${label} | ${capacityPerSec.toFixed(0)} | ${rate.toFixed(0)} for ${burstMs} ms | ${total} | ${lost} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${ms(latencies.at(-1) ?? Number.NaN)} | ${(elapsed / 1000).toFixed(2)} s | ${peakQueued} |`;
}

/**
 * Failover: 3-node cluster, instances on nodes A (and B when `twoInstances`), the caller on C with
 * 4 loops of GETs; A is SIGKILLed. Measures the longest time between two successful answers around
 * the kill, and the failures.
 */
async function failover(twoInstances: boolean, retry: RetrySettings | false, label: string): Promise<string> {
  await using nodes = await cluster(3);
  const [a, b, c] = nodes.servers as [NatsServer, NatsServer, NatsServer];
  const opts = { reconnectTimeWait: 100, maxReconnectAttempts: -1, noAsyncTraces: true };
  const conns = [await connect({ servers: a.url, ...opts })];
  if (twoInstances) conns.push(await connect({ servers: b.url, ...opts }));
  const callerConn = await connect({ servers: c.url, ...opts });
  const svcs = await Promise.all(
    conns.map((nc) => serve(() => new Response("ok"), { service: "fo", nc, logger: silent, metrics: false })),
  );
  const fetch: MeshFetch = createFetch({ nc: callerConn, timeout: 5000, retry });
  await check(async () => (await fetch("http://fo/")).status === 200, 5000, { name: "served" });
  let running = true;
  let lastOk = performance.now();
  let killedAt = 0;
  let gap = 0;
  let ok = 0;
  let failed = 0;
  const loop = async () => {
    while (running) {
      try {
        const res = await fetch("http://fo/");
        await res.arrayBuffer();
        if (res.status !== 200) {
          failed++;
          continue;
        }
        const now = performance.now();
        if (killedAt > 0) gap = Math.max(gap, now - Math.max(lastOk, killedAt));
        lastOk = now;
        ok++;
      } catch {
        failed++;
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  await sleep(300);
  lastOk = performance.now();
  killedAt = performance.now();
  await a.kill("SIGKILL");
  await sleep(3000);
  running = false;
  await Promise.all(loops);
  for (const s of svcs) await s.stop();
  await fetch.close();
  for (const nc of [...conns, callerConn]) await nc.close();
  return `| ${twoInstances ? "on A and B" : "on A only"} | ${label} | ${ms(gap)} | ${failed} | ${ok} |`;
}

const lines: string[] = [];
lines.push(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${loadavg()[0]!.toFixed(2)}; nats-server from the test harness.`,
  "",
  "**Overload burst** (2 instances, open-loop burst at 4× their capacity, client timeout 30 s):",
  "",
  "| limit × work | client retry | capacity req/s | burst req/s | requests | lost | p50 ms | p99 ms | max ms | drained in | peak queued per instance |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
);
/** Retries no responders (every instance stepped out) with backoff until the 30 s deadline. */
const untilDeadline: RetrySettings = { attempts: 10_000, backoffMs: 10, maxBackoffMs: 50 };
lines.push(await overload(4, 20, 1000, {}, "default (3 attempts)"));
lines.push(await overload(4, 20, 1000, untilDeadline, "until the deadline"));
lines.push(await overload(4, 20, 1000, { attempts: 10_000 }, "until the deadline, default backoff"));
lines.push(await overload(16, 20, 500, {}, "default (3 attempts)"));
lines.push(await overload(16, 20, 500, untilDeadline, "until the deadline"));
lines.push(await overload(16, 20, 500, { attempts: 10_000 }, "until the deadline, default backoff"));
lines.push(
  "",
  "**Failover gap** (3-node cluster, caller on C with 4 loops of GETs, SIGKILL of node A; gap = longest time without a successful answer after the kill; 3 s observed):",
  "",
  "| instances | client retry | gap ms | failed | ok |",
  "| --- | --- | --- | --- | --- |",
);
lines.push(await failover(true, false, "none"));
lines.push(await failover(true, {}, "default (no responders, lost connection)"));
lines.push(await failover(true, { attemptTimeout: 250, attempts: 5 }, "attemptTimeout 250 ms"));
lines.push(
  await failover(
    false,
    { attempts: 20, attemptTimeout: 250, deadline: 5000 },
    "20 attempts, attemptTimeout 250 ms",
  ),
);
process.stdout.write(`${lines.join("\n")}\n`);
