/**
 * Two builds of natsmesh side by side on the headline call (POST 1 KB JSON, bench/lib/order.ts):
 * per build and scenario, req/s and CPU per 10k requests (service, client) at c=64, then p50/p99 at
 * c=1, the builds' rounds interleaved so the shared machine's load hits both alike; medians.
 *   npx tsx bench/ab.ts /tmp/main/dist bench/results/dist          (scenarios ja,jn; 5 rounds)
 *   npx tsx bench/ab.ts A=/tmp/main/dist B=dist --only=ja,jn,jc --rounds=5
 * A build is a directory holding tsc's output of src/ (`npm run build`'s dist, or bench/lib/mesh.ts's
 * `bench/results/dist`), with node_modules reachable from it. Each build gets its own nats-server,
 * and each scenario its own service and client processes (bench/responders.ts, bench/client.ts).
 * Raw nats.js (ja) does not load natsmesh: it is the same under both builds, an A/A check of the run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { startLocalServer } from "../src/dev/index.js";
import type { Job, JobResult } from "./client.js";
import { median } from "./lib/measure.js";
import { ORDER_BYTES } from "./lib/order.js";
import { JSON_SCENARIOS, serviceName } from "./lib/scenarios.js";

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(flag("rounds") ?? 5);
const ids = (flag("only") ?? "ja,jn").split(",");
const builds = args
  .filter((a) => !a.startsWith("--"))
  .map((a, i) => {
    const eq = a.indexOf("=");
    return eq > 0
      ? { name: a.slice(0, eq), dir: resolve(a.slice(eq + 1)) }
      : { name: "AB"[i]!, dir: resolve(a) };
  });
if (builds.length !== 2)
  throw new Error("usage: npx tsx bench/ab.ts <build A> <build B> [--only=ja,jn] [--rounds=5]");

interface Child {
  child: ChildProcess;
  lines: Interface;
}

/** Starts a bench script with natsmesh loaded from `dir` (bench/lib/mesh.ts) and waits for `READY`. */
async function start(script: string, argv: string[], dir: string): Promise<Child & { info: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...argv], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, NATSMESH_BENCH_BUILD: dir },
  });
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((ok, fail) => {
    child.once("exit", (code) => fail(new Error(`${script} ${argv[0]} exited with ${code}`)));
    lines.once("line", ok);
  });
  if (!line.startsWith("READY")) throw new Error(`${script} ${argv[0]}: ${line}`);
  return { child, lines, info: line.slice(6).trim() };
}

function ask(c: Child, job: Job): Promise<JobResult & { error?: string }> {
  return new Promise((ok) => {
    c.lines.once("line", (line) => ok(JSON.parse(line)));
    c.child.stdin!.write(`${JSON.stringify(job)}\n`);
  });
}

const job = (warm: boolean): Job => ({
  size: ORDER_BYTES,
  concurrency: 64,
  durationMs: 1500,
  warmupMs: warm ? 500 : 300,
  latencyMs: 1500,
  ...(warm ? { warmupCalls: 5000, warmupCapMs: 10_000 } : {}),
});

const servers = [];
const pairs: { key: string; service: Child; client: Child }[] = [];
for (const build of builds) {
  const server = await startLocalServer();
  servers.push(server);
  for (const id of ids) {
    const scenario = JSON_SCENARIOS.find((s) => s.id === id);
    if (!scenario) throw new Error(`--only: ${id} is not a headline scenario`);
    const service = await start(
      "bench/responders.ts",
      [scenario.responder, server.url, serviceName(id)],
      build.dir,
    );
    const client = await start(
      "bench/client.ts",
      [id, server.url, service.info, String(service.child.pid), String(server.pid)],
      build.dir,
    );
    pairs.push({ key: `${id} ${build.name}`, service, client });
  }
}
const load0 = loadavg()[0]!;
for (const p of pairs) await ask(p.client, job(true));
const results = new Map<string, JobResult[]>(pairs.map((p) => [p.key, []]));
for (let r = 0; r < rounds; r++) {
  for (const p of r % 2 === 0 ? pairs : [...pairs].reverse()) {
    const out = await ask(p.client, job(false));
    if (out.error) throw new Error(`${p.key}: ${out.error}`);
    results.get(p.key)!.push(out);
  }
  process.stderr.write(`bench/ab: round ${r + 1} of ${rounds}, load ${loadavg()[0]!.toFixed(2)}\n`);
}
const load1 = loadavg()[0]!;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
process.stdout.write(
  `node ${process.version} · ${rounds} rounds interleaved, medians · load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after · ${builds.map((b) => `${b.name} = ${b.dir}`).join(", ")}\n\n`,
);
process.stdout.write(
  "| | req/s c=64 | CPU ms/10k service | client | p50 µs c=1 | p99 µs c=1 | p50 per round |\n|---|---:|---:|---:|---:|---:|---|\n",
);
for (const [key, outs] of results) {
  process.stdout.write(
    `| ${key} | ${fmt(median(outs.map((o) => o.rps)))} | ${fmt(median(outs.map((o) => o.cpuPer10k.service!)))} | ${fmt(median(outs.map((o) => o.cpuPer10k.client!)))} | ${fmt(median(outs.map((o) => o.p50)))} | ${fmt(median(outs.map((o) => o.p99)))} | ${outs.map((o) => fmt(o.p50)).join(" ")} |\n`,
  );
}
for (const p of pairs) {
  p.client.child.stdin!.end();
  p.service.child.stdin!.end();
}
await Promise.all(
  pairs.flatMap((p) => [p.client, p.service].map((c) => new Promise((ok) => c.child.once("exit", ok)))),
);
for (const s of servers) await s.stop();
