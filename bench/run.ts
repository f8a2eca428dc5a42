/**
 * The whole benchmark suite, one command:
 *   npm run bench             (3 repetitions; writes BENCHMARKS.md and docs/bench.svg)
 *   npm run bench -- --quick  (1 short repetition; prints only, unless --write)
 * Options: --only=c,m (scenario ids; a, b and h always run), --sizes=100,10240, --no-bodies,
 * --no-gateway, --no-profile, --write, --src (natsmesh from src/ through tsx instead of compiled by
 * tsc first).
 *
 * 1. Request path: every scenario of bench/lib/scenarios.ts side by side on one nats-server, for
 *    answers of 100 B, 10 KB and 512 KB; c=64 closed loop for req/s and CPU per 10k requests per
 *    process (client, service, nats-server), c=1 for p50/p99. Each scenario's client and service run
 *    in their own processes (bench/client.ts, bench/responders.ts), all started once and warmed up
 *    (a discarded run per size) before anything is measured; repetitions are
 *    interleaved (rep 1 of every scenario, then rep 2, ...) so a burst of other load on the machine
 *    hits every scenario alike; medians of the repetitions. Then, in each repetition, 64 KB answers
 *    at c=8 (the issue's reference point for bodies: MB/s and CPU per GB beside raw NATS and direct
 *    HTTP; --no-bodies skips it).
 * 2. Gateway vs Caddy and nginx: bench/gateway.ts, unchanged (skipped when caddy/nginx/wrk are missing).
 * 3. Profile of the natsmesh Fetch path: bench/profile.ts.
 * The medians also go to bench/results/request-path.json (not committed); --from-results writes the
 * tables and the chart again from that file without measuring.
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
import { BODY_CONCURRENCY, BODY_SIZE, SIZES, sizeLabel } from "./lib/payload.js";
import { PEER_RESPONDERS, SCENARIOS, type Scenario, serviceName } from "./lib/scenarios.js";
import { writeSection } from "./lib/sections.js";
import { ask, type BenchChild, startBench } from "./lib/spawn.js";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const write = !quick || argv.includes("--write");
const flag = (name: string) =>
  argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(",");
const only = flag("only");
const sizes = (flag("sizes") ?? SIZES.map(String)).map(Number);
const REPS = quick ? 1 : 3;
const DURATION = quick ? 1000 : 3000;
const WARMUP = quick ? 300 : 1000;
const LATENCY = quick ? 500 : 1500;
const WARMUP_ALL = quick ? 1000 : 2000;
const CONCURRENCY = 64;
const FILE = "BENCHMARKS.md";
const CHART = "docs/bench.svg";
const RESULTS = "bench/results/request-path.json";

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

/** Medians per scenario, size and concurrency. */
interface Row {
  scenario: Scenario;
  size: number;
  /** Concurrency of the throughput run (64, or 8 for the bodies' reference point). */
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  cpu: { client: number; service: number; "nats-server": number };
}

/** One kind of measurement: answer size, concurrency, and whether a c=1 latency run follows. */
interface Run {
  size: number;
  concurrency: number;
  latency: boolean;
}

const RUNS: Run[] = [
  ...sizes.map((size) => ({ size, concurrency: CONCURRENCY, latency: true })),
  ...(argv.includes("--no-bodies")
    ? []
    : [{ size: BODY_SIZE, concurrency: BODY_CONCURRENCY, latency: false }]),
];

const runLabel = (run: Run) => `${sizeLabel(run.size)} c=${run.concurrency}`;

async function requestPath(): Promise<Row[]> {
  const scenarios = SCENARIOS.filter((s) => !only || only.includes(s.id) || ["a", "b", "h"].includes(s.id));
  if (scenarios.some((s) => PEER_RESPONDERS.has(s.responder))) ensurePeers();
  const server = await startLocalServer();
  const pairs: Pair[] = [];
  const results = new Map<string, JobResult[]>();
  try {
    for (const scenario of scenarios) {
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
      ]);
      pairs.push({ scenario, service, client });
    }
    // JIT warm-up of every process, per size, discarded: on a loaded 2-core machine V8's background
    // compiler is starved, and a cold first job measured a fraction of the warm rate.
    for (const run of RUNS) {
      for (const { scenario, client } of pairs) {
        process.stderr.write(`bench: warm-up ${runLabel(run)} ${scenario.id} ${scenario.short}\n`);
        const job: Job = {
          size: run.size,
          concurrency: run.concurrency,
          durationMs: WARMUP_ALL,
          warmupMs: 0,
          latencyMs: run.latency ? 200 : 0,
        };
        const r = await ask<JobResult & { error?: string }>(client, job);
        if (r.error) throw new Error(`${scenario.id} at ${runLabel(run)}: ${r.error}`);
      }
    }
    for (let rep = 0; rep < REPS; rep++) {
      for (const run of RUNS) {
        for (const { scenario, client } of pairs) {
          process.stderr.write(
            `bench: rep ${rep + 1}/${REPS} ${runLabel(run)} ${scenario.id} ${scenario.short}\n`,
          );
          const job: Job = {
            size: run.size,
            concurrency: run.concurrency,
            durationMs: DURATION,
            warmupMs: WARMUP,
            latencyMs: run.latency ? LATENCY : 0,
          };
          const r = await ask<JobResult & { error?: string }>(client, job);
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
  for (const { size, concurrency } of RUNS) {
    for (const { scenario } of pairs) {
      const rs = results.get(`${scenario.id}/${size}/${concurrency}`)!;
      const cpu = (k: string) => median(rs.map((r) => r.cpuPer10k[k]!));
      rows.push({
        scenario,
        size,
        concurrency,
        rps: median(rs.map((r) => r.rps)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpu: { client: cpu("client"), service: cpu("service"), "nats-server": cpu("nats-server") },
      });
    }
  }
  return rows;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ratio = (n: number) => n.toFixed(2);
const totalCpu = (r: Row) => r.cpu.client + r.cpu.service + r.cpu["nats-server"];
/** Answer megabytes (10^6 bytes) per second. */
const mbps = (r: Row) => (r.rps * r.size) / 1e6;
/** CPU seconds of all three processes per GB (10^9 bytes) of answers. */
const cpuPerGb = (r: Row) => ((totalCpu(r) / 10_000 / 1000) * 1e9) / r.size;

/** The rows of one run kind: an answer size at a concurrency (c=64 unless given). */
function rowsAt(rows: Row[], size: number, concurrency = CONCURRENCY): Row[] {
  return rows.filter((r) => r.size === size && r.concurrency === concurrency);
}

function find(rows: Row[], id: string, size: number, concurrency = CONCURRENCY): Row | undefined {
  return rowsAt(rows, size, concurrency).find((r) => r.scenario.id === id);
}

/** The answer sizes measured at c=64 (the bodies' reference point at c=8 aside). */
const sizesAtC64 = (rows: Row[]) => [
  ...new Set(rows.filter((r) => r.concurrency === CONCURRENCY).map((r) => r.size)),
];

function smallTable(rows: Row[]): string {
  const a = find(rows, "a", 100)!.rps;
  const b = find(rows, "b", 100)!.rps;
  const h = find(rows, "h", 100)!.rps;
  const lines = [
    "| | scenario | req/s c=64 | × (a) | × (b) | × HTTP | p50 µs c=1 | p99 µs c=1 | CPU ms/10k client | service | nats-server |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rowsAt(rows, 100)) {
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.label} | ${fmt(r.rps)} | ${ratio(r.rps / a)} | ${ratio(r.rps / b)} | ${ratio(r.rps / h)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpu.client)} | ${fmt(r.cpu.service)} | ${fmt(r.cpu["nats-server"])} |`,
    );
  }
  return lines.join("\n");
}

/**
 * MB/s and CPU per GB of one size at one concurrency, beside raw NATS (`nc.request` and the lean
 * mux) and direct HTTP; the c=1 latency columns when that run had them. `note` follows the title.
 * Undefined when a, b or h was not measured there.
 */
function bodyTable(rows: Row[], size: number, concurrency = CONCURRENCY, note = ""): string | undefined {
  const [a, b, h] = ["a", "b", "h"].map((id) => find(rows, id, size, concurrency));
  if (!a || !b || !h) return undefined;
  const group = rowsAt(rows, size, concurrency);
  const latency = group.some((r) => Number.isFinite(r.p50));
  const lines = [
    `**${sizeLabel(size)} answers${concurrency === CONCURRENCY ? "" : ` at c=${concurrency}`}**${note}`,
    "",
    `| | scenario | req/s c=${concurrency} | MB/s | × \`nc.request\` | × lean mux | × HTTP |${latency ? " p50 µs c=1 | p99 µs c=1 |" : ""} CPU ms/10k client | service | nats-server | CPU s/GB, all | × lean mux | × HTTP |`,
    `|---|---|---:|---:|---:|---:|---:|${latency ? "---:|---:|" : ""}---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of group) {
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.short} | ${fmt(r.rps)} | ${fmt(mbps(r))} | ${ratio(mbps(r) / mbps(a))} | ${ratio(mbps(r) / mbps(b))} | ${ratio(mbps(r) / mbps(h))} |${latency ? ` ${fmt(r.p50)} | ${fmt(r.p99)} |` : ""} ${fmt(r.cpu.client)} | ${fmt(r.cpu.service)} | ${fmt(r.cpu["nats-server"])} | ${cpuPerGb(r).toFixed(1)} | ${ratio(cpuPerGb(r) / cpuPerGb(b))} | ${ratio(cpuPerGb(r) / cpuPerGb(h))} |`,
    );
  }
  return lines.join("\n");
}

function barsTable(rows: Row[], gatewayVsCaddy: number | undefined): string {
  const at = (id: string) => find(rows, id, 100);
  const lines = ["| bar (100 B) | measured | target | met |", "|---|---:|---:|---|"];
  const bar = (name: string, value: number | undefined, target: number, atMost = false) => {
    if (value === undefined || Number.isNaN(value)) return;
    const met = atMost ? value <= target : value >= target;
    const off = atMost ? (value / target - 1) * 100 : (1 - value / target) * 100;
    // A miss that rounds to the target itself is shown with the digits that tell it apart.
    const close = !met && ratio(value) === ratio(target);
    const shown = close ? value.toFixed(3) : ratio(value);
    const miss = `${off.toFixed(off < 1 ? 1 : 0)}% ${atMost ? "above" : "below"}`;
    lines.push(
      `| ${name} | ${shown} | ${atMost ? "≤" : "≥"} ${ratio(target)} | ${met ? "yes" : `no, ${miss}`} |`,
    );
  };
  const c = at("c");
  const d = at("d");
  const fastestPeer = ["m", "n"]
    .map(at)
    .reduce<Row | undefined>((x, y) => (y && (!x || y.rps > x.rps) ? y : x), undefined);
  bar("Fetch path req/s ÷ lean mux (b)", c && c.rps / at("b")!.rps, 0.5);
  if (fastestPeer)
    bar(`Fetch path req/s ÷ fastest peer (${fastestPeer.scenario.short})`, c && c.rps / fastestPeer.rps, 1);
  bar("Fetch path p50 c=1 ÷ raw `nc.request` (a)", c && c.p50 / at("a")!.p50, 1.3, true);
  bar("Fetch path p50 c=1 ÷ lean mux (b)", c && c.p50 / at("b")!.p50, 1.3, true);
  bar("express path req/s ÷ lean mux (b)", d && d.rps / at("b")!.rps, 0.35);
  bar("gateway req/s ÷ Caddy (bench/gateway.ts, same command)", gatewayVsCaddy, 1.5);
  const hx = at("hx");
  if (d && hx) {
    lines.push(
      "",
      `The same express app over direct HTTP (hx), no NATS at all, reached ${ratio(hx.rps / at("b")!.rps)}× the lean mux ` +
        `at ${fmt(hx.cpu.service)} CPU ms/10k in its server; over natsmesh (d) ${fmt(d.cpu.service)}: the express ` +
        `path runs at ${ratio(d.rps / hx.rps)}× express's own speed on node:http.`,
    );
  }
  return lines.join("\n");
}

function chart(rows: Row[], footer: string): string {
  const panel = (
    size: number,
    value: (r: Row) => number,
    title: string,
    concurrency = CONCURRENCY,
  ): { title: string; bars: Bar[] } => ({
    title,
    bars: rowsAt(rows, size, concurrency).map((r) => ({
      label: r.scenario.short,
      value: value(r),
      highlight: r.scenario.short.startsWith("natsmesh"),
    })),
  });
  const panels = [panel(100, (r) => r.rps, "req/s at c=64, 100 B answers (higher is better)")];
  const shown = sizesAtC64(rows);
  if (shown.includes(100))
    panels.push(panel(100, (r) => r.p50, "p50 µs at c=1, 100 B answers (lower is better)"));
  for (const size of shown.filter((s) => s !== 100))
    panels.push(panel(size, mbps, `MB/s at c=64, ${sizeLabel(size)} answers (higher is better)`));
  panels.push(
    panel(
      BODY_SIZE,
      mbps,
      `MB/s at c=${BODY_CONCURRENCY}, ${sizeLabel(BODY_SIZE)} answers (higher is better)`,
      BODY_CONCURRENCY,
    ),
  );
  return barChart(
    panels.filter((p) => p.bars.length > 0),
    footer,
  );
}

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Runs another bench script with this run's --quick/--write, echoing its output; returns its stdout. */
async function runScript(script: string, extra: string[] = []): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      script,
      ...(quick ? ["--quick"] : []),
      ...(quick && write ? ["--write"] : []),
      ...extra,
    ],
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

/** One run's medians and conditions, kept in bench/results/request-path.json. */
interface Saved {
  started: string;
  /** 1-minute load average before and after the request-path part. */
  load: [number, number];
  reps: number;
  durationMs: number;
  latencyMs: number;
  quick: boolean;
  /** How natsmesh ran: compiled by tsc, or src/ through tsx. */
  build: string;
  gatewayVsCaddy?: number | undefined;
  /** `concurrency` is missing in results saved before the bodies' reference point: those were c=64. */
  rows: (Omit<Row, "concurrency"> & { concurrency?: number })[];
}

async function measureAll(): Promise<Saved> {
  if (!argv.includes("--src")) buildMesh();
  const load0 = loadavg()[0]!;
  const started = new Date().toISOString();
  const rows = await requestPath();
  const load1 = loadavg()[0]!;

  let gatewayVsCaddy: number | undefined;
  if (!argv.includes("--no-gateway")) {
    const missing = ["caddy", "nginx", "wrk"].filter((c) => !which(c));
    if (missing.length) {
      process.stderr.write(
        `bench: gateway vs Caddy/nginx skipped: ${missing.join(", ")} missing (apt-get install -y caddy nginx wrk)\n`,
      );
    } else {
      const out = await runScript("bench/gateway.ts");
      const m = /gateway ÷ Caddy = ([\d.]+)/.exec(out);
      if (m) gatewayVsCaddy = Number(m[1]);
    }
  }
  if (!argv.includes("--no-profile")) await runScript("bench/profile.ts");
  const saved: Saved = {
    started,
    load: [load0, load1],
    reps: REPS,
    durationMs: DURATION,
    latencyMs: LATENCY,
    quick,
    build: meshBuildLabel(),
    gatewayVsCaddy,
    rows,
  };
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(saved, null, 2));
  return saved;
}

async function main(): Promise<void> {
  // --from-results: the tables and the chart again from the last run's medians, nothing measured.
  const fromResults = argv.includes("--from-results");
  const saved: Saved = fromResults
    ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Saved)
    : await measureAll();
  const { reps, gatewayVsCaddy } = saved;
  // Results saved before the bodies' reference point had no concurrency: every row was c=64.
  const rows = saved.rows.map((r) => ({ ...r, concurrency: r.concurrency ?? CONCURRENCY }));
  const [load0, load1] = saved.load;
  const started = new Date(saved.started);
  const ranQuick = saved.quick;
  const stamp = started.toISOString().slice(0, 16).replace("T", " ");
  const nats = execFileSync("nats-server", ["--version"], { encoding: "utf8" })
    .trim()
    .replace("nats-server: ", "");
  const head =
    `Run ${stamp} UTC · \`npm run bench${ranQuick ? " -- --quick" : ""}\` · ${cpus().length} cores (${cpus()[0]?.model.trim()}) · ` +
    `node ${process.version} · nats-server ${nats} · ${saved.build} · ${reps} repetition${reps > 1 ? "s" : ""} of ${saved.durationMs / 1000} s at c=${CONCURRENCY} ` +
    `and ${saved.latencyMs / 1000} s at c=1, interleaved, medians · load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after`;
  const core = `${head}\n\n${smallTable(rows)}\n`;
  const shown = sizesAtC64(rows);
  const bodyTables = [
    ...shown.filter((s) => s !== 100).map((s) => bodyTable(rows, s)),
    bodyTable(
      rows,
      BODY_SIZE,
      BODY_CONCURRENCY,
      " (the issue's reference point; measured there before natsmesh existed: raw NATS 263 MB/s, direct HTTP 1,018 MB/s, NATS at 3.6–4.4× HTTP's CPU per GB)",
    ),
  ].filter((t) => t !== undefined);
  const bodies = `${head}\n\n${bodyTables.join("\n\n")}\n`;
  const bars = `${head}\n\n${barsTable(rows, gatewayVsCaddy)}\n`;
  process.stdout.write(`\n${core}\n${bodies}\n${bars}`);
  if (write && !only) {
    if (shown.includes(100)) writeSection(FILE, "core", core);
    if (bodyTables.length > 0) writeSection(FILE, "bodies", bodies);
    writeSection(FILE, "bars", bars);
    writeFileSync(
      CHART,
      chart(
        rows,
        `Run ${stamp} UTC · npm run bench${ranQuick ? " -- --quick" : ""} · 2-core machine shared (load ${load0.toFixed(1)}–${load1.toFixed(1)}) · node ${process.version} · medians of ${reps}`,
      ),
    );
    process.stderr.write(`bench: wrote ${FILE} and ${CHART}\n`);
  }
  process.exit(0);
}

await main();
