/**
 * The whole benchmark suite, one command, on each Node version asked for:
 *   npm run bench                   (Node 20 and 24, 3 repetitions; writes BENCHMARKS.md and docs/bench.svg)
 *   npm run bench -- --quick        (1 short repetition; prints only, unless --write)
 *   npm run bench -- --node=20,24,26
 * Options: --node=20,24 (majors or exact versions; the machine's Node, or those .ci/run installs into
 * ~/.cache/natsmesh-node), --only=jc,jm (scenario ids; ja, jb, a, b and h always run), --sizes=100,10240,
 * --no-get (the headline only), --no-bodies, --no-gateway, --no-profile, --write (all sections) or
 * --write=headline,core,bodies,gateway,profile (only those), --src (natsmesh from src/ through tsx
 * instead of compiled by tsc first), --from-results (the tables again from the last run's medians,
 * nothing measured).
 *
 * Per Node version, in a process of that version (`--one-node`; every child it starts runs on it too):
 * 1. Request path: every scenario of bench/lib/scenarios.ts side by side on one nats-server. The
 *    headline first: POST 1 KB JSON (8 records), the handler parses it and answers a small JSON
 *    object (bench/lib/order.ts); then the GET tables for answers of 100 B, 10 KB and 512 KB at c=64,
 *    and 64 KB at c=8 (the bodies' reference point). c=64 closed loop for req/s and CPU per 10k
 *    requests per process (client, service, nats-server), c=1 for p50/p99. Each scenario's client and
 *    service run in their own processes (bench/client.ts, bench/responders.ts), all started once and
 *    warmed up (a discarded run per kind) before anything is measured; repetitions are interleaved
 *    (rep 1 of every scenario and kind, then rep 2, ...) so a burst of other load on the machine hits
 *    every scenario alike; medians of the repetitions.
 * 2. Gateway vs the bare front door, Caddy and nginx: bench/gateway.ts (skipped when caddy/nginx/wrk
 *    are missing).
 * 3. Profiles of the headline call through natsmesh, Fetch handler and node:http: bench/profile.ts.
 * Ratios are only ever taken within one version's run. The medians and the gateway's and profile's
 * tables go to bench/results/node-<major>.json (not committed).
 * The peers (Moleculer, NestJS) are devDependencies of bench/package.json; `npm ci` runs in bench/
 * first when bench/node_modules is missing or older than bench/package-lock.json.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { startLocalServer } from "../src/dev/index.js";
import type { Job, JobResult } from "./client.js";
import { type Bar, barChart } from "./lib/chart.js";
import { median } from "./lib/measure.js";
import { buildMesh, meshBuildLabel } from "./lib/mesh.js";
import { DEFAULT_NODE_VERSIONS, findNode, NODE_CACHE } from "./lib/node-versions.js";
import { ORDER_BYTES } from "./lib/order.js";
import { BODY_CONCURRENCY, BODY_SIZE, SIZES, sizeLabel } from "./lib/payload.js";
import { callOf, PEER_RESPONDERS, SCENARIOS, type Scenario, serviceName } from "./lib/scenarios.js";
import { writeSection } from "./lib/sections.js";
import { ask, type BenchChild, startBench } from "./lib/spawn.js";
import {
  bodyTable,
  CONCURRENCY,
  find,
  headlineTable,
  type Row,
  sizesAtC64,
  smallTable,
  targetsTable,
} from "./lib/tables.js";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
/** `--write=headline,gateway`: only those sections; `--write` (or no --quick): all of them. */
const writeOnly = argv
  .find((a) => a.startsWith("--write="))
  ?.slice(8)
  .split(",");
const write = !quick || argv.includes("--write") || writeOnly !== undefined;
const oneNode = argv.includes("--one-node");
const flag = (name: string) =>
  argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(",");
const only = flag("only");
const sizes = (flag("sizes") ?? SIZES.map(String)).map(Number);
const noGet = argv.includes("--no-get");
const REPS = quick ? 1 : 3;
const DURATION = quick ? 1000 : 3000;
const WARMUP = quick ? 300 : 1000;
const LATENCY = quick ? 500 : 1500;
const WARMUP_ALL = quick ? 1000 : 2000;
/** The discarded warm-up also lasts until this many calls (at most 5 × WARMUP_ALL): see warmUpCalls. */
const WARMUP_CALLS = 5000;
const FILE = "BENCHMARKS.md";
const CHART = "docs/bench.svg";
const resultsFile = (major: string) => `bench/results/node-${major}.json`;

/** `npm ci` in bench/ when its node_modules is missing or older than its lock file. */
function ensurePeers(): void {
  const installed = "bench/node_modules/.package-lock.json";
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync("bench/package-lock.json").mtimeMs)
    return;
  process.stderr.write("bench: installing the peers (npm ci in bench/) ...\n");
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: "bench", stdio: "inherit" });
  if (r.status !== 0) throw new Error(`npm ci in bench/ failed (${r.status})`);
}

interface Pair {
  scenario: Scenario;
  service: BenchChild;
  client: BenchChild;
}

/** One kind of measurement: the call, answer size, concurrency, and whether a c=1 latency run follows. */
interface Run {
  call: "get" | "json";
  size: number;
  concurrency: number;
  latency: boolean;
}

const RUNS: Run[] = [
  { call: "json", size: ORDER_BYTES, concurrency: CONCURRENCY, latency: true },
  ...(noGet
    ? []
    : [
        ...sizes.map((size) => ({ call: "get" as const, size, concurrency: CONCURRENCY, latency: true })),
        ...(argv.includes("--no-bodies")
          ? []
          : [{ call: "get" as const, size: BODY_SIZE, concurrency: BODY_CONCURRENCY, latency: false }]),
      ]),
];

const runLabel = (run: Run) =>
  run.call === "json"
    ? `POST 1 KB JSON c=${run.concurrency}`
    : `GET ${sizeLabel(run.size)} c=${run.concurrency}`;

const ALWAYS = ["ja", "jb", "a", "b", "h"];
/** How many scenario pairs start at the same time. */
const STARTING_AT_ONCE = 4;

async function requestPath(): Promise<Row[]> {
  const calls = new Set(RUNS.map((r) => r.call));
  const scenarios = SCENARIOS.filter(
    (s) => calls.has(callOf(s)) && (!only || only.includes(s.id) || ALWAYS.includes(s.id)),
  );
  if (scenarios.some((s) => PEER_RESPONDERS.has(s.responder))) ensurePeers();
  const server = await startLocalServer();
  const pairs: Pair[] = [];
  const results = new Map<string, JobResult[]>();
  const job = (run: Run, durationMs: number, warmupMs: number, latencyMs: number): Job => ({
    size: run.size,
    concurrency: run.concurrency,
    durationMs,
    warmupMs,
    latencyMs: run.latency ? latencyMs : 0,
  });
  try {
    // A few pairs start at once: each process spends its start-up loading tsx and its modules.
    const queue = [...scenarios];
    const failures: unknown[] = [];
    const starter = async () => {
      for (let scenario = queue.shift(); scenario; scenario = queue.shift()) {
        try {
          const service = await startBench("bench/responders.ts", [
            scenario.responder,
            server.url,
            serviceName(scenario.id),
          ]);
          const client = await startBench("bench/client.ts", [
            scenario.id,
            server.url,
            service.info || "-",
            String(service.child.pid),
            String(server.pid),
          ]).catch(async (err: unknown) => {
            await service.stop();
            throw err;
          });
          pairs.push({ scenario, service, client });
        } catch (err) {
          failures.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: STARTING_AT_ONCE }, starter));
    if (failures.length > 0) throw failures[0];
    // The tables keep the scenarios' order.
    pairs.sort((x, y) => scenarios.indexOf(x.scenario) - scenarios.indexOf(y.scenario));
    const of = (run: Run) => pairs.filter((p) => callOf(p.scenario) === run.call);
    // JIT warm-up of every process, per run kind, discarded: on a loaded 2-core machine V8's background
    // compiler is starved, and a cold first job measured a fraction of the warm rate.
    for (const run of RUNS) {
      for (const { scenario, client } of of(run)) {
        process.stderr.write(
          `bench: ${process.version} warm-up ${runLabel(run)} ${scenario.id} ${scenario.short}\n`,
        );
        const r = await ask<JobResult & { error?: string }>(client, {
          ...job(run, WARMUP_ALL, 0, 200),
          warmupCalls: WARMUP_CALLS,
          warmupCapMs: 5 * WARMUP_ALL,
        });
        if (r.error) throw new Error(`${scenario.id} at ${runLabel(run)}: ${r.error}`);
      }
    }
    for (let rep = 0; rep < REPS; rep++) {
      for (const run of RUNS) {
        for (const { scenario, client } of of(run)) {
          process.stderr.write(
            `bench: ${process.version} rep ${rep + 1}/${REPS} ${runLabel(run)} ${scenario.id} ${scenario.short}\n`,
          );
          const r = await ask<JobResult & { error?: string }>(client, job(run, DURATION, WARMUP, LATENCY));
          if (r.error) throw new Error(`${scenario.id} at ${runLabel(run)}: ${r.error}`);
          const key = `${scenario.id}/${run.size}/${run.concurrency}`;
          results.set(key, [...(results.get(key) ?? []), r]);
        }
      }
    }
  } finally {
    for (const p of pairs) await Promise.all([p.client.stop(), p.service.stop()]);
    await server.stop();
  }
  const rows: Row[] = [];
  for (const run of RUNS) {
    for (const { scenario } of pairs.filter((p) => callOf(p.scenario) === run.call)) {
      const rs = results.get(`${scenario.id}/${run.size}/${run.concurrency}`)!;
      const cpu = (k: string) => median(rs.map((r) => r.cpuPer10k[k]!));
      rows.push({
        scenario,
        size: run.size,
        concurrency: run.concurrency,
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpu: { client: cpu("client"), service: cpu("service"), "nats-server": cpu("nats-server") },
      });
    }
  }
  return rows;
}

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Runs another bench script on this Node with this run's --quick, printing only; returns its stdout. */
async function runScript(script: string, extra: string[] = []): Promise<string> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", script, ...(quick ? ["--quick"] : []), "--no-write", ...extra],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d;
    process.stdout.write(d);
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
  return out;
}

/** One version's run: its medians, conditions, and the gateway's and profiles' tables. */
interface Saved {
  started: string;
  node: string;
  /** 1-minute load average before and after the request-path part. */
  load: [number, number];
  reps: number;
  durationMs: number;
  latencyMs: number;
  quick: boolean;
  /** How natsmesh ran: compiled by tsc, or src/ through tsx. */
  build: string;
  /** bench/gateway.ts's output: head line with the targets, and its table. */
  gateway?: string | undefined;
  /** Why the gateway part did not run. */
  gatewaySkipped?: string | undefined;
  /** bench/profile.ts's outputs. */
  profiles: string[];
  rows: Row[];
}

/** `--one-node`: everything on this process's Node; saved to bench/results/node-<major>.json. */
async function measureOneNode(): Promise<void> {
  const load0 = loadavg()[0]!;
  const started = new Date().toISOString();
  const rows = await requestPath();
  const load1 = loadavg()[0]!;
  const saved: Saved = {
    started,
    node: process.version,
    load: [load0, load1],
    reps: REPS,
    durationMs: DURATION,
    latencyMs: LATENCY,
    quick,
    build: meshBuildLabel(),
    profiles: [],
    rows,
  };
  if (!argv.includes("--no-gateway")) {
    const missing = ["caddy", "nginx", "wrk"].filter((c) => !which(c));
    if (missing.length) {
      saved.gatewaySkipped = `${missing.join(", ")} missing (apt-get install -y caddy nginx wrk)`;
      process.stderr.write(`bench: gateway vs Caddy/nginx skipped: ${saved.gatewaySkipped}\n`);
    } else {
      saved.gateway = (await runScript("bench/gateway.ts")).trim();
    }
  }
  if (!argv.includes("--no-profile")) {
    for (const id of ["jc", "jn"])
      saved.profiles.push((await runScript("bench/profile.ts", [`--scenario=${id}`])).trim());
  }
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(resultsFile(process.versions.node.split(".")[0]!), JSON.stringify(saved, null, 2));
}

function headLine(saved: Saved): string {
  const stamp = new Date(saved.started).toISOString().slice(0, 16).replace("T", " ");
  const nats = execFileSync("nats-server", ["--version"], { encoding: "utf8" })
    .trim()
    .replace("nats-server: ", "");
  const [load0, load1] = saved.load;
  return (
    `**Node ${saved.node}** · run ${stamp} UTC · \`npm run bench${saved.quick ? " -- --quick" : ""}\` · ${cpus().length} cores (${cpus()[0]?.model.trim()}) · ` +
    `nats-server ${nats} · ${saved.build} · ${saved.reps} repetition${saved.reps > 1 ? "s" : ""} of ${saved.durationMs / 1000} s at c=${CONCURRENCY} ` +
    `and ${saved.latencyMs / 1000} s at c=1, interleaved, medians · load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after`
  );
}

function chart(runs: Saved[]): string {
  const panels: { title: string; bars: Bar[] }[] = [];
  const bars = (rows: Row[], value: (r: Row) => number) =>
    rows.map((r) => ({
      label: r.scenario.short,
      value: value(r),
      highlight: r.scenario.short.startsWith("natsmesh"),
    }));
  for (const saved of runs) {
    const json = saved.rows.filter((r) => callOf(r.scenario) === "json");
    panels.push({
      title: `Node ${saved.node}: req/s at c=64, POST 1 KB JSON, handler parses and answers JSON (higher is better)`,
      bars: bars(json, (r) => r.rps),
    });
    panels.push({
      title: `Node ${saved.node}: p50 µs at c=1, the same call (lower is better)`,
      bars: bars(json, (r) => r.p50),
    });
  }
  const first = runs[0]!;
  const get100 = first.rows.filter(
    (r) => callOf(r.scenario) === "get" && r.size === 100 && r.concurrency === 64,
  );
  if (get100.length)
    panels.push({
      title: `Node ${first.node}: req/s at c=64, GET 100 B answers (higher is better)`,
      bars: bars(get100, (r) => r.rps),
    });
  const loads = runs.flatMap((r) => r.load);
  return barChart(
    panels.filter((p) => p.bars.length > 0),
    `npm run bench${first.quick ? " -- --quick" : ""} · ${runs.map((r) => `node ${r.node} at ${r.started.slice(0, 16).replace("T", " ")} UTC`).join(", ")} · 2-core machine shared (load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}) · medians of ${first.reps}`,
  );
}

/** The tables of every version's run, printed, and written unless --quick (or with --write). */
function report(runs: Saved[]): void {
  const headline: string[] = [];
  const core: string[] = [];
  const bodies: string[] = [];
  const gateway: string[] = [];
  const profiles: string[] = [];
  for (const saved of runs) {
    const head = headLine(saved);
    const rows = saved.rows;
    headline.push(`${head}\n\n${headlineTable(rows)}\n\n${targetsTable(rows, saved.gateway)}`);
    if (find(rows, "a", 100)) core.push(`${head}\n\n${smallTable(rows)}`);
    const tables = [
      ...sizesAtC64(rows)
        .filter((s) => s !== 100)
        .map((s) => bodyTable(rows, s)),
      bodyTable(
        rows,
        BODY_SIZE,
        BODY_CONCURRENCY,
        " (the issue's reference point; measured there before natsmesh existed: raw NATS 263 MB/s, direct HTTP 1,018 MB/s, NATS at 3.6–4.4× HTTP's CPU per GB)",
      ),
    ].filter((t) => t !== undefined);
    if (tables.length) bodies.push(`${head}\n\n${tables.join("\n\n")}`);
    gateway.push(
      saved.gateway
        ? `**Node ${saved.node}** · ${saved.gateway}`
        : `**Node ${saved.node}** · gateway part not run${saved.gatewaySkipped ? `: ${saved.gatewaySkipped}` : ""}`,
    );
    for (const p of saved.profiles) profiles.push(`**Node ${saved.node}** · ${p}`);
  }
  const sections: [string, string[]][] = [
    ["headline", headline],
    ["core", core],
    ["bodies", bodies],
    ["gateway", gateway],
    ["profile", profiles],
  ];
  for (const [name, parts] of sections) {
    if (parts.length) process.stdout.write(`\n<!-- ${name} -->\n${parts.join("\n\n")}\n`);
  }
  if (!write || only) return;
  const chosen = sections.filter(([name, parts]) => parts.length && (!writeOnly || writeOnly.includes(name)));
  for (const [name, parts] of chosen) writeSection(FILE, name, `${parts.join("\n\n")}\n`);
  // The chart shows the headline: written with it.
  if (chosen.some(([name]) => name === "headline")) writeFileSync(CHART, chart(runs));
  process.stderr.write(`bench: wrote ${chosen.map(([n]) => n).join(", ")} into ${FILE}\n`);
}

/** Runs `--one-node` on each asked version in turn, then reports them side by side. */
async function main(): Promise<void> {
  if (oneNode) {
    await measureOneNode();
    process.exit(0);
  }
  const asked = flag("node") ?? [...DEFAULT_NODE_VERSIONS];
  const runs: Saved[] = [];
  if (argv.includes("--from-results")) {
    for (const v of asked) {
      const file = resultsFile(v.split(".")[0]!);
      if (existsSync(file)) runs.push(JSON.parse(readFileSync(file, "utf8")) as Saved);
    }
  } else {
    if (!argv.includes("--src")) buildMesh();
    ensurePeers();
    for (const v of asked) {
      const node = findNode(v);
      if (!node) {
        process.stderr.write(
          `bench: Node ${v} skipped: neither this Node (${process.version}) nor installed in ${NODE_CACHE} (bash .ci/run installs the versions of .ci/node-versions)\n`,
        );
        continue;
      }
      const forwarded = argv.filter((a) => !a.startsWith("--node=") && !a.startsWith("--write"));
      const child = spawn(node.path, ["--import", "tsx", "bench/run.ts", "--one-node", ...forwarded], {
        stdio: ["ignore", "inherit", "inherit"],
      });
      const code = await new Promise<number | null>((r) => child.once("exit", r));
      if (code !== 0) throw new Error(`bench on Node ${v} (${node.path}) exited with ${code}`);
      runs.push(JSON.parse(readFileSync(resultsFile(v.split(".")[0]!), "utf8")) as Saved);
    }
  }
  if (runs.length === 0) throw new Error("bench: no Node version ran");
  report(runs);
  process.exit(0);
}

await main();
