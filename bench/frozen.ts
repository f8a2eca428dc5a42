/**
 * A frozen instance under load (issue 23, "a hung instance found fast"): 4 instances of a service,
 * each its own process, a closed-loop load of `c` callers through `createFetch`; one instance is
 * SIGSTOPped for a while, then SIGCONTed. Prints req/s, p99 and failures before, during and after.
 *
 *   npx tsx bench/frozen.ts [--c 32] [--before 10] [--frozen 30] [--after 10] [--ping] [--eject]
 *
 * `--ping` starts nats-server with `ping_interval: "1s"` and `ping_max: 2` (docs/OPERATIONS.md), so
 * that the server drops the stopped process within a few seconds. `--eject` turns on the client's
 * outlier ejection (`createFetch({ eject: true })`, docs/TRAFFIC.md §10). Prints Markdown.
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
    before: { type: "string", default: "10" },
    frozen: { type: "string", default: "30" },
    after: { type: "string", default: "10" },
    ping: { type: "boolean", default: false },
    eject: { type: "boolean", default: false },
  },
});
const concurrency = Number(values.c);
const seconds = { before: Number(values.before), frozen: Number(values.frozen), after: Number(values.after) };

type Phase = "warm" | "before" | "frozen" | "after";
interface Tally {
  ok: number;
  failed: number;
  latencies: number[];
  errors: Map<string, number>;
}
const tallies: Record<Phase, Tally> = {
  warm: { ok: 0, failed: 0, latencies: [], errors: new Map() },
  before: { ok: 0, failed: 0, latencies: [], errors: new Map() },
  frozen: { ok: 0, failed: 0, latencies: [], errors: new Map() },
  after: { ok: 0, failed: 0, latencies: [], errors: new Map() },
};
let phase: Phase = "warm";
let running = true;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] ?? Number.NaN;
}

const server = await NatsServer.start(values.ping ? { ping_interval: "1s", ping_max: 2 } : {});
const children: ChildInstance[] = [];
try {
  for (let i = 0; i < 4; i++) children.push(await startChildInstance("frozen", `i${i}`, server.url));
  const nc = await connect({ servers: server.url });
  const fetch = createFetch({ nc, timeout: 30_000, eject: values.eject });
  const loop = async () => {
    while (running) {
      const at = phase;
      const started = performance.now();
      try {
        const res = await fetch("http://frozen/whoami");
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        tallies[at].ok++;
        tallies[at].latencies.push(performance.now() - started);
      } catch (err) {
        tallies[at].failed++;
        const name = err instanceof Error ? err.name : String(err);
        tallies[at].errors.set(name, (tallies[at].errors.get(name) ?? 0) + 1);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  await sleep(3000);
  phase = "before";
  await sleep(seconds.before * 1000);
  phase = "frozen";
  children[0]!.process.kill("SIGSTOP");
  await sleep(seconds.frozen * 1000);
  children[0]!.process.kill("SIGCONT");
  phase = "after";
  await sleep(seconds.after * 1000);
  running = false;
  await Promise.all(loops);
  await nc.close();

  const rate = (t: Tally, s: number) => Math.round(t.ok / s);
  const before = rate(tallies.before, seconds.before);
  console.log(
    `### Frozen instance: 1 of 4 SIGSTOPped for ${seconds.frozen} s, c=${concurrency}, nats-server ${values.ping ? "`ping_interval: 1s`, `ping_max: 2`" : "defaults"}, ${values.eject ? "`createFetch({ eject: true })`" : "`createFetch()` without ejection"}\n`,
  );
  console.log(
    `Node ${process.version}, ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} at the end (a shared, busy machine).\n`,
  );
  console.log("| phase | seconds | req/s | of before | p99 ms | failed |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const p of ["before", "frozen", "after"] as const) {
    const t = tallies[p];
    const errors = [...t.errors].map(([k, v]) => `${k} ×${v}`).join(", ");
    console.log(
      `| ${p} | ${seconds[p]} | ${rate(t, seconds[p])} | ${Math.round((100 * rate(t, seconds[p])) / before)}% | ${p99(t.latencies).toFixed(0)} | ${t.failed}${errors ? ` (${errors})` : ""} |`,
    );
  }
} finally {
  running = false;
  for (const c of children) {
    c.process.kill("SIGCONT");
    await c.kill();
  }
  await server.stop();
}
