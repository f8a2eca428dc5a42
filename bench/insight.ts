/**
 * Insight: the capacity signal against the load, and what the reports cost.
 *   npx tsx bench/insight.ts            (writes docs/insight-ramp.svg; prints the tables)
 *   npx tsx bench/insight.ts --quick    (a shorter ramp, no SVG)
 *
 * 1. Ramp: two instances (handler waits 20 ms, concurrency 16 each: 32 requests at once in all) on a
 *    local nats-server; closed-loop callers step 0 → 48 → 0, three seconds a step; the aggregator
 *    (window 5 s, target 0.7) records, each second, in-flight, saturation, instances needed, rate and
 *    p99. The SVG plots the signal against the load.
 * 2. Cost of a report at an instance: building and encoding it (3 methods with traffic), and with its
 *    publish; the request path's extra cost of the instance's own recorder.
 * 3. The aggregator with 100 simulated instances reporting each second, in a process of its own:
 *    its CPU and memory, and the size of one picture (what one dashboard update sends).
 * 4. Stalled browsers: a dashboard (default limits) updating 20 times a second with 100 instances,
 *    and 8 event-stream connections that never read: the bytes each holds at most, the skipped
 *    updates, the connections closed, and the heap before and after.
 */
import { writeFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "../src/connect/index.js";
import { serveDashboard } from "../src/dashboard/index.js";
import { startLocalServer } from "../src/dev/index.js";
import { createFetch, serve } from "../src/index.js";
import { createInsight, type InstanceReport, reportSubject } from "../src/insight/index.js";
import { InstanceRecorder } from "../src/insight/instance-recorder.js";
import { buildReport } from "../src/insight/reporter.js";
import { createLogger } from "../src/log/index.js";
import { DEFAULT_BUCKETS } from "../src/metrics/metrics.js";
import { ServiceRecorder } from "../src/metrics/recorder.js";
import { lineChart } from "./lib/line-chart.js";
import { startBench } from "./lib/spawn.js";

const [role, url] = process.argv.slice(2);
const quick = process.argv.includes("--quick");
const silent = createLogger({ level: "silent" });

/** The aggregator child: 100 instances' reports for `seconds`, then its CPU, memory and picture size. */
async function aggregatorChild(natsUrl: string): Promise<void> {
  const mesh = await connect({ servers: natsUrl, env: {} });
  const insight = createInsight(mesh.nc);
  await mesh.nc.flush();
  process.stdout.write("READY\n");
  const lines: string[] = [];
  process.stdin.on("data", (c) => lines.push(c.toString()));
  await new Promise<void>((r) => process.stdin.once("data", () => r())); // "start"
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((r) => process.stdin.once("data", () => r())); // "stop"
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - t0) / 1000;
  const view = insight.view();
  const picture = JSON.stringify(view).length;
  const instances = view.services.reduce((n, s) => n + s.instances.length, 0);
  process.stdout.write(
    `${JSON.stringify({
      cpuPct: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
      heapMB: process.memoryUsage().heapUsed / 2 ** 20,
      rssMB: process.memoryUsage().rss / 2 ** 20,
      picture,
      instances,
      rejected: insight.rejected,
    })}\n`,
  );
  insight.close();
  await mesh.close();
}

interface Point {
  t: number;
  callers: number;
  inFlight: number;
  saturation: number;
  needed: number;
  rate: number;
  p99: number | null;
  instances: number;
}

async function ramp(natsUrl: string): Promise<Point[]> {
  const slow = () => new Promise<Response>((r) => setTimeout(() => r(new Response("ok")), 20));
  const instances = await Promise.all(
    ["a", "b"].map(async (id) =>
      serve(slow, {
        service: "api",
        instance: `api-${id}`,
        connection: { servers: natsUrl, env: {} },
        logger: silent,
        metrics: false,
        concurrency: 16,
      }),
    ),
  );
  const mesh = await connect({ servers: natsUrl, env: {} });
  const fetch = createFetch({ nc: mesh.nc, timeout: 10_000 });
  const insight = createInsight(mesh.nc, { window: 5, target: 0.7 });
  const steps = quick
    ? [0, 8, 24, 40, 24, 8, 0]
    : [0, 4, 8, 12, 16, 24, 32, 40, 48, 40, 32, 24, 16, 12, 8, 4, 0];
  let callers = 0;
  const running: Array<{ stop: boolean; done: Promise<void> }> = [];
  const setCallers = (n: number) => {
    while (running.length < n) {
      const caller = { stop: false, done: Promise.resolve() };
      caller.done = (async () => {
        while (!caller.stop) {
          await fetch("http://api/work").then(
            (res) => res.arrayBuffer(),
            () => sleep(10),
          );
        }
      })();
      running.push(caller);
    }
    while (running.length > n) running.pop()!.stop = true;
    callers = n;
  };
  const points: Point[] = [];
  const t0 = Date.now();
  const off = insight.onUpdate((view) => {
    const s = view.services.find((x) => x.service === "api");
    points.push({
      t: (view.at - t0) / 1000,
      callers,
      inFlight: s?.inFlight ?? 0,
      saturation: s?.saturation ?? 0,
      needed: s?.needed ?? 0,
      rate: s?.rate ?? 0,
      p99: s?.p99 ?? null,
      instances: s?.instances.length ?? 0,
    });
  });
  for (const n of steps) {
    setCallers(n);
    await sleep(3000);
  }
  await sleep(6000); // the window drains after the last step
  off();
  setCallers(0);
  insight.close();
  await fetch.close();
  await mesh.close();
  await Promise.all(instances.map((i) => i.stop()));
  return points;
}

function measureReportCost(): { buildUs: number; bytes: number; recorderNs: number; sharedNs: number } {
  const shared = new ServiceRecorder("api", DEFAULT_BUCKETS);
  const recorder = new InstanceRecorder("api", DEFAULT_BUCKETS, shared);
  for (let i = 0; i < 10_000; i++) {
    recorder.record(
      i % 3 === 0 ? "POST" : i % 3 === 1 ? "PUT" : "GET",
      i % 50 === 0 ? 500 : 200,
      (i % 100) / 1000,
    );
  }
  const settings = {
    service: "api",
    id: "api-a",
    version: "1.0.0",
    prefix: "mesh",
    started: new Date(),
    limit: 16,
    interval: 1000,
    recorder,
    gauges: () => ({ inFlight: 3, queued: 0, busyMs: 12345.6, cancelled: 1, malformed: 0, out: false }),
  };
  const nc = { info: { server_name: "n1", cluster: "eu" } } as unknown as Parameters<typeof buildReport>[0];
  const n = 20_000;
  let bytes = 0;
  for (let i = 0; i < 2000; i++) bytes = JSON.stringify(buildReport(nc, settings, i)).length; // warm-up
  let t = performance.now();
  for (let i = 0; i < n; i++) bytes = JSON.stringify(buildReport(nc, settings, i)).length;
  const buildUs = ((performance.now() - t) * 1000) / n;
  // The request path: one start + finish per request, with and without the instance's own recorder.
  const m = 5_000_000;
  const time = (r: ServiceRecorder) => {
    for (let i = 0; i < 200_000; i++) {
      r.start();
      r.finish("GET", 200, 0.002);
    }
    t = performance.now();
    for (let i = 0; i < m; i++) {
      r.start();
      r.finish("GET", 200, 0.002);
    }
    return ((performance.now() - t) * 1e6) / m;
  };
  const sharedNs = time(new ServiceRecorder("x", DEFAULT_BUCKETS));
  const recorderNs = time(
    new InstanceRecorder("x", DEFAULT_BUCKETS, new ServiceRecorder("x", DEFAULT_BUCKETS)),
  );
  return { buildUs, bytes, recorderNs, sharedNs };
}

async function publishCost(natsUrl: string): Promise<number> {
  const mesh = await connect({ servers: natsUrl, env: {} });
  const recorder = new InstanceRecorder("api", DEFAULT_BUCKETS, undefined);
  for (let i = 0; i < 1000; i++) recorder.record(i % 2 ? "GET" : "POST", 200, 0.003);
  const settings = {
    service: "api",
    id: "api-a",
    version: "1.0.0",
    prefix: "mesh",
    started: new Date(),
    limit: 16,
    interval: 1000,
    recorder,
    gauges: () => ({ inFlight: 3, queued: 0, busyMs: 1, cancelled: 0, malformed: 0, out: false }),
  };
  const n = 20_000;
  const subject = reportSubject("api", "api-a");
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    mesh.nc.publish(subject, JSON.stringify(buildReport(mesh.nc, settings, i)));
    if (i % 500 === 0) await mesh.nc.flush();
  }
  await mesh.nc.flush();
  const cpu = process.cpuUsage(cpu0);
  await mesh.close();
  return (cpu.user + cpu.system) / n;
}

async function hundredInstances(natsUrl: string, seconds: number) {
  const child = await startBench("bench/insight.ts", ["aggregator", natsUrl]);
  const mesh = await connect({ servers: natsUrl, env: {} });
  const started = new Date().toISOString();
  const report = (i: number, seq: number) => simulatedReport(i, seq, started);
  const send = (seq: number) => {
    for (let i = 0; i < 100; i++)
      mesh.nc.publish(reportSubject(`svc-${i % 20}`, `inst-${i}`), JSON.stringify(report(i, seq)));
  };
  let seq = 0;
  send(seq++);
  await sleep(2000);
  send(seq++);
  child.child.stdin!.write("start\n");
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    send(seq++);
  }
  child.child.stdin!.write("stop\n");
  const line = await new Promise<string>((r) => child.lines.once("line", r));
  await child.stop();
  await mesh.close();
  return JSON.parse(line) as {
    cpuPct: number;
    heapMB: number;
    rssMB: number;
    picture: number;
    instances: number;
    rejected: number;
  };
}

function simulatedReport(i: number, seq: number, started: string): InstanceReport {
  return {
    v: 1,
    service: `svc-${i % 20}`,
    id: `inst-${i}`,
    version: "1.0.0",
    prefix: "mesh",
    started,
    seq,
    interval: 1000,
    server: { name: `n${i % 3}`, cluster: "eu" },
    limit: 64,
    inFlight: i % 7,
    queued: 0,
    out: false,
    busy: seq * 40,
    cancelled: 0,
    malformed: 0,
    bounds: [...DEFAULT_BUCKETS],
    methods: {
      GET: {
        n: seq * 100,
        err: seq,
        to: 0,
        h: DEFAULT_BUCKETS.map((_, b) => (b < 6 ? seq * 16 : 0)).concat(seq * 4),
      },
      POST: {
        n: seq * 20,
        err: 0,
        to: 0,
        h: DEFAULT_BUCKETS.map((_, b) => (b === 4 ? seq * 20 : 0)).concat(0),
      },
    },
  };
}

async function stalledBrowsers(natsUrl: string, seconds: number) {
  const mesh = await connect({ servers: natsUrl, env: {} });
  const server = await serveDashboard({ nc: mesh.nc, tick: 50 });
  const started = new Date().toISOString();
  let seq = 0;
  const send = () => {
    for (let i = 0; i < 100; i++)
      mesh.nc.publish(
        reportSubject(`svc-${i % 20}`, `inst-${i}`),
        JSON.stringify(simulatedReport(i, seq, started)),
      );
    seq++;
  };
  send();
  await sleep(1200);
  send();
  (globalThis as { gc?: () => void }).gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const sockets: Socket[] = [];
  for (let c = 0; c < 8; c++) {
    const s = netConnect(Number(new URL(server.url).port), "127.0.0.1");
    s.write("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
    s.pause();
    s.on("error", () => {});
    sockets.push(s);
  }
  for (let t = 0; t < seconds; t++) {
    await sleep(1000);
    send();
  }
  const events = server.dashboard.events;
  const picture = JSON.stringify(server.insight.view()).length;
  (globalThis as { gc?: () => void }).gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  const result = {
    updates: Math.round((seconds * 1000) / 50),
    picture,
    peakBuffered: events.peakBuffered,
    skipped: events.skipped,
    dropped: events.dropped,
    open: events.size,
    heapGrowthMB: (heap1 - heap0) / 2 ** 20,
  };
  for (const s of sockets) s.destroy();
  await server.close();
  await mesh.close();
  return result;
}

async function main(): Promise<void> {
  if (role === "aggregator") return aggregatorChild(url!);
  await using nats = await startLocalServer();
  const cost = measureReportCost();
  const publishUs = await publishCost(nats.url);
  const hundred = await hundredInstances(nats.url, quick ? 5 : 20);
  const stalled = await stalledBrowsers(nats.url, quick ? 4 : 10);
  const points = await ramp(nats.url);

  console.log(`Node ${process.version}, ${quick ? "quick" : "full"} run`);
  console.log("\n| cost | figure |\n| --- | --- |");
  console.log(
    `| build + encode one report (3 methods) | ${cost.buildUs.toFixed(1)} µs, ${cost.bytes} bytes |`,
  );
  console.log(`| build + encode + publish one report (CPU) | ${publishUs.toFixed(1)} µs |`);
  console.log(`| request path: start + finish, shared recorder only | ${cost.sharedNs.toFixed(1)} ns |`);
  console.log(
    `| request path: start + finish, with the instance's own recorder | ${cost.recorderNs.toFixed(1)} ns |`,
  );
  console.log(
    `| aggregator, 100 instances reporting each second (${hundred.instances} seen, ${hundred.rejected} rejected) | ${hundred.cpuPct.toFixed(2)}% of a core, heap ${hundred.heapMB.toFixed(1)} MB, RSS ${hundred.rssMB.toFixed(0)} MB |`,
  );
  console.log(
    `| one picture of 100 instances (one dashboard update) | ${(hundred.picture / 1024).toFixed(1)} KiB of JSON |`,
  );
  console.log(
    `\n| stalled browsers: 8 connections that never read, ${stalled.updates} updates of ${(stalled.picture / 1024).toFixed(1)} KiB (default limits) | figure |\n| --- | --- |`,
  );
  console.log(
    `| most bytes one connection's socket held in the process | ${(stalled.peakBuffered / 1024).toFixed(0)} KiB |`,
  );
  console.log(`| updates skipped (all connections) | ${stalled.skipped} |`);
  console.log(`| connections closed for staying full / still open | ${stalled.dropped} / ${stalled.open} |`);
  console.log(
    `| heap growth over the run (after GC with --expose-gc) | ${stalled.heapGrowthMB.toFixed(1)} MB |`,
  );
  console.log(
    "\n| t (s) | callers | in-flight | saturation | needed | req/s | p99 (ms) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const p of points) {
    console.log(
      `| ${p.t.toFixed(0)} | ${p.callers} | ${p.inFlight.toFixed(1)} | ${(p.saturation * 100).toFixed(0)}% | ${p.needed} | ${p.rate.toFixed(0)} | ${p.p99 === null ? "–" : (p.p99 * 1000).toFixed(1)} |`,
    );
  }
  if (!quick) {
    const xs = points.map((p) => p.t);
    const svg = lineChart(
      xs,
      [
        {
          title: "Load and the measured in-flight (two instances, 16 slots each, handler 20 ms)",
          lines: [
            {
              label: "callers (closed loop)",
              color: "#9ca3af",
              ys: points.map((p) => p.callers),
              dashed: true,
            },
            { label: "in-flight (signal)", color: "#2563eb", ys: points.map((p) => p.inFlight) },
            { label: "capacity (32)", color: "#dc2626", ys: points.map(() => 32), dashed: true },
          ],
        },
        {
          title: "Saturation (%) and instances needed at target 70%",
          lines: [
            { label: "saturation %", color: "#d97706", ys: points.map((p) => p.saturation * 100) },
            { label: "instances needed ×10", color: "#16a34a", ys: points.map((p) => p.needed * 10) },
            {
              label: "instances running ×10",
              color: "#6b7280",
              ys: points.map((p) => p.instances * 10),
              dashed: true,
            },
          ],
        },
        {
          title: "Requests per second and p99 (ms)",
          lines: [
            { label: "req/s ÷ 10", color: "#7c3aed", ys: points.map((p) => p.rate / 10) },
            {
              label: "p99 ms",
              color: "#db2777",
              ys: points.map((p) => (p.p99 === null ? null : p.p99 * 1000)),
            },
          ],
        },
      ],
      `npx tsx bench/insight.ts — Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, window 5 s, reports each second`,
    );
    writeFileSync("docs/insight-ramp.svg", svg);
    console.log("\nwrote docs/insight-ramp.svg");
  }
}

await main();
