/**
 * Short stalls and the acknowledgement deadline (issue 23): what a caller pays when an instance's
 * event loop stops for a moment (a long synchronous handler, a major GC). 4 instances of a service,
 * each its own process, a closed-loop load of `c` GETs through `createFetch`; in each phase one
 * instance after another blocks its event loop for `S` ms (`POST /hog`, sent to that instance by its
 * `$I` subject), every `--every` ms. A GET that the stalled instance took and could not acknowledge
 * within the deadline (PROTOCOL.md §8.4) is sent again elsewhere; the phase's executions over its
 * answered GETs show how many ran twice.
 *
 *   npx tsx bench/stalls.ts [--c 32] [--seconds 5] [--every 500] [--stalls 0,50,100,150,250,400]
 *
 * Prints Markdown.
 */
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { createFetch } from "../src/index.js";
import { type ChildInstance, startChildInstance } from "../test/support/child-instance.js";
import { NatsServer } from "../test/support/nats-server.js";

const { values } = parseArgs({
  options: {
    c: { type: "string", default: "32" },
    seconds: { type: "string", default: "5" },
    every: { type: "string", default: "500" },
    stalls: { type: "string", default: "0,50,100,150,250,400" },
  },
});
const concurrency = Number(values.c);
const seconds = Number(values.seconds);
const every = Number(values.every);
const stalls = values.stalls.split(",").map(Number);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const server = await NatsServer.start();
const children: ChildInstance[] = [];
try {
  for (let i = 0; i < 4; i++) children.push(await startChildInstance("stalls", `i${i}`, server.url));
  const nc = await connect({ servers: server.url });
  const fetch = createFetch({ nc, timeout: 30_000 });
  const control = createFetch({ nc, timeout: 30_000, retry: false });
  /** Requests each instance has run so far (its `stats()`; the /stats call itself included). */
  const executions = async (): Promise<number> => {
    let sum = 0;
    for (const child of children) {
      const res = await control("http://stalls/stats", { instance: child.instance });
      sum += ((await res.json()) as { requests: number }).requests;
    }
    return sum;
  };

  let running = true;
  let counting = false;
  /** While set, the loops wait on it: the instances' counts are read with no GET in flight. */
  let paused: Promise<void> | undefined;
  let idle = 0;
  let ok = 0;
  let failed = 0;
  let latencies: number[] = [];
  const loop = async () => {
    while (running) {
      if (paused) {
        idle++;
        await paused;
        idle--;
        continue;
      }
      const started = performance.now();
      try {
        const res = await fetch("http://stalls/whoami");
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        if (counting) {
          ok++;
          latencies.push(performance.now() - started);
        }
      } catch {
        if (counting) failed++;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(3000);

  /** Holds the loops until every GET in flight has ended; returns the release. */
  const pause = async (): Promise<() => void> => {
    let release!: () => void;
    paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    while (idle < concurrency) await sleep(10);
    return () => {
      paused = undefined;
      release();
    };
  };

  const rows: string[] = [];
  for (const stall of stalls) {
    ok = 0;
    failed = 0;
    latencies = [];
    const resume = await pause();
    const before = await executions();
    resume();
    counting = true;
    const until = performance.now() + seconds * 1000;
    let hogs = 0;
    for (let i = 0; performance.now() < until; i++) {
      if (stall > 0) {
        const child = children[i % children.length]!;
        hogs++;
        void control(`http://stalls/hog?ms=${stall}`, { method: "POST", instance: child.instance })
          .then((r) => r.arrayBuffer())
          .catch(() => undefined);
      }
      await sleep(every);
    }
    const resumeAfter = await pause();
    counting = false;
    // A copy of a GET that was answered elsewhere may still be queued behind a stall.
    await sleep(Math.max(500, stall * 2));
    const ran = (await executions()) - before - hogs - children.length;
    resumeAfter();
    latencies.sort((a, b) => a - b);
    rows.push(
      `| ${stall} | ${Math.round(ok / seconds)} | ${quantile(latencies, 0.5).toFixed(1)} | ${quantile(latencies, 0.99).toFixed(0)} | ${quantile(latencies, 0.999).toFixed(0)} | ${ran - ok} (${((100 * (ran - ok)) / ok).toFixed(2)}%) | ${failed} |`,
    );
  }
  running = false;
  await Promise.all(loops);
  await nc.close();

  console.log(
    `### Short stalls: one of 4 instances blocks its event loop for S ms every ${every} ms (round robin), c=${concurrency} GETs, ${seconds} s per row\n`,
  );
  console.log(
    `Node ${process.version}, ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} at the end.\n`,
  );
  console.log("| stall S ms | GET/s | p50 ms | p99 ms | p99.9 ms | ran more than answered | failed |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
} finally {
  for (const c of children) await c.kill();
  await server.stop();
}
