/**
 * The front door, side by side on one machine (Gateway issue):
 *   natsmesh gateway → NATS → 2 service instances (node:http listener served with `serve`), twice:
 *     in one process (the default) and with `--workers 2` (a primary and 2 worker processes)
 *   limit  node:http + lean mux → NATS → 2 raw responders (bench/wire/lean-gateway.ts): what any
 *          front door on node:http and nats.js pays, with nothing of natsmesh in it
 *   Caddy  reverse proxy → 2 node:http instances (same handler)
 *   nginx  reverse proxy → 2 node:http instances (same handler, upstream keep-alive)
 * Load from wrk (c=64 for req/s and latency, c=1 for latency), 3 repetitions interleaved across the
 * targets, medians; CPU per 10k requests of the serving processes (and of the front door and of
 * nats-server alone), and how busy the whole machine was (wrk included) during the c=64 runs.
 *   npx tsx bench/gateway.ts          (writes BENCHMARKS.md)   --quick: 1 short repetition, prints only
 *   (--no-write: prints only; `npm run bench` writes the tables of every Node version itself)
 * Issue #19's two targets are printed under the head line: the faster natsmesh row's req/s ÷ the bare
 * front door's (the limit row) ≥ 0.8, and its CPU per request over all serving processes ÷ Caddy's
 * ≤ 0.7, both of the same run.
 * Needs the Debian packages caddy, nginx and wrk (apt-get install -y caddy nginx wrk).
 * The gateway and its service instances run natsmesh compiled by tsc (bench/lib/mesh.ts), as
 * `npm run bench` runs them; `--src` runs the TypeScript sources through tsx instead.
 * The targets line's figures (which run.ts reads) are the faster natsmesh row's.
 * NODE_CLUSTER_SCHED_POLICY=none in the environment measures the workers with node:cluster's
 * shared-socket policy instead of its Linux default (round-robin by the primary).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { startLocalServer } from "../src/dev/index.js";
import { cpuMs, median } from "./lib/measure.js";
import { BUILD_DIR, buildMesh, meshBuildLabel } from "./lib/mesh.js";
import { freePort } from "./lib/port.js";
import { type BenchChild, startBench } from "./lib/spawn.js";

const quick = process.argv.includes("--quick");
// Run by run.ts, the build is made already (its children inherit where it is).
if (!process.env.NATSMESH_BENCH_BUILD && !process.argv.includes("--src")) buildMesh();
const built = process.env.NATSMESH_BENCH_BUILD !== undefined;
const REPS = quick ? 1 : 3;
const SECONDS = quick ? 3 : 5;
const run = promisify(execFile);

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Starts a process and resolves once a line of its output matches `ready`. */
async function startProcess(
  cmd: string,
  args: string[],
  ready: RegExp | null,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<ChildProcess> {
  // Output nobody reads must not go to a pipe: a full pipe would stall the process being measured.
  const child = spawn(cmd, args, {
    stdio: ["ignore", ready ? "pipe" : "ignore", ready ? "pipe" : "inherit"],
    env: { ...process.env, ...opts.env },
  });
  children.push(child);
  if (ready) {
    await new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => ready.test(line) && resolve();
      createInterface({ input: child.stdout! }).on("line", onLine);
      createInterface({ input: child.stderr! }).on("line", onLine);
      child.once("exit", (code) => reject(new Error(`${cmd} exited with ${code} before it was ready`)));
    });
  }
  return child;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(true));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Starts a bench/ script (tsx) and waits for its `READY` line; it is killed when this run exits. */
async function benchProcess(script: string, args: string[]): Promise<BenchChild> {
  const started = await startBench(script, args);
  children.push(started.child);
  return started;
}

function responder(scenario: string, url = "-", name = "bench"): Promise<BenchChild> {
  return benchProcess("bench/responders.ts", [scenario, url, name]);
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
}

function micros(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v : m[2] === "ms" ? v * 1000 : v * 1e6;
}

async function wrk(url: string, connections: number): Promise<WrkResult> {
  const threads = Math.min(2, connections);
  const { stdout } = await run("wrk", [
    "-t",
    String(threads),
    "-c",
    String(connections),
    "-d",
    `${SECONDS}s`,
    "--latency",
    url,
  ]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p50 = micros(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? "");
  const p99 = micros(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? "");
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1];
  if (non2xx) throw new Error(`${url}: ${non2xx} non-2xx responses`);
  return { rps, p50, p99 };
}

interface Target {
  name: string;
  url: string;
  /** Every process that serves this target's requests (wrk excluded), for CPU per request. */
  pids: number[];
  /** The front door's own processes (gateway, proxy), a subset of `pids`. */
  front: number[];
  /** The nats-server process of a target that goes over NATS, else none (a subset of `pids`). */
  nats: number[];
}

/** Busy and total CPU time of the whole machine so far (all cores, clock ticks), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

const sum = (pids: number[]) => pids.reduce((acc, pid) => acc + cpuMs(pid), 0);

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  const dir = await mkdtemp(join(tmpdir(), "natsmesh-bench-gw-"));
  const nats = await startLocalServer();
  try {
    // natsmesh: 2 instances of service "bench" (node:http listener) and the gateway.
    const meshPids = [nats.pid];
    meshPids.push((await responder("mesh-node", nats.url)).child.pid!);
    meshPids.push((await responder("mesh-node", nats.url)).child.pid!);
    // Access logs off, as for Caddy (log output discard) and nginx (access_log off).
    const startGateway = async (workers: number) => {
      const port = await freePort();
      const child = await startProcess(
        process.execPath,
        [
          ...(built ? [join(BUILD_DIR, "cli/main.js")] : ["--import", "tsx", "src/cli/main.ts"]),
          "gateway",
          "--listen",
          `127.0.0.1:${port}`,
          "--admin",
          `127.0.0.1:${await freePort()}`,
          "--server",
          nats.url,
          "--workers",
          String(workers),
        ],
        /gateway listening on/,
        { env: { NATSMESH_LOG_LEVEL: "warn" } },
      );
      // With workers, the primary's children serve; without, the process itself.
      const pids =
        workers === 1
          ? []
          : (await run("pgrep", ["-P", String(child.pid)])).stdout.trim().split(/\s+/).map(Number);
      if (pids.length !== (workers === 1 ? 0 : workers))
        throw new Error(`gateway: ${pids.length} workers, expected ${workers}`);
      return { port, pids: [child.pid!, ...pids] };
    };
    const gw1 = await startGateway(1);
    const gw2 = await startGateway(2);

    // The limit: node:http + lean mux → NATS → 2 raw responders in a queue group (bench/wire/lean-gateway.ts).
    const leanPids = [nats.pid];
    leanPids.push((await responder("raw-queue", nats.url, "bench-lean")).child.pid!);
    leanPids.push((await responder("raw-queue", nats.url, "bench-lean")).child.pid!);
    const leanPort = await freePort();
    const lean = (
      await benchProcess("bench/wire/lean-gateway.ts", [nats.url, String(leanPort), "bench-lean.raw.100"])
    ).child;
    leanPids.push(lean.pid!);

    // Two plain node:http instances for the reverse proxies.
    const httpA = await responder("http");
    const httpB = await responder("http");
    const a = httpA.info;
    const b = httpB.info;
    const backendPids = [httpA.child.pid!, httpB.child.pid!];

    const caddyPort = await freePort();
    const caddyfile = join(dir, "Caddyfile");
    await writeFile(
      caddyfile,
      `{\n  admin off\n  auto_https off\n  log {\n    output discard\n  }\n}\n:${caddyPort} {\n  bind 127.0.0.1\n  reverse_proxy 127.0.0.1:${a} 127.0.0.1:${b} {\n    lb_policy round_robin\n  }\n}\n`,
    );
    const caddy = await startProcess("caddy", ["run", "--config", caddyfile, "--adapter", "caddyfile"], null);
    await waitPort(caddyPort);

    const nginxPort = await freePort();
    const nginxConf = join(dir, "nginx.conf");
    await writeFile(
      nginxConf,
      `worker_processes auto;\nerror_log ${dir}/nginx-error.log warn;\npid ${dir}/nginx.pid;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  fastcgi_temp_path ${dir};\n  uwsgi_temp_path ${dir};\n  scgi_temp_path ${dir};\n  upstream app { server 127.0.0.1:${a}; server 127.0.0.1:${b}; keepalive 64; }\n  server {\n    listen 127.0.0.1:${nginxPort};\n    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }\n  }\n}\n`,
    );
    const nginx = await startProcess("nginx", ["-c", nginxConf, "-p", dir, "-g", "daemon off;"], null);
    await waitPort(nginxPort);
    const nginxWorkers = (await run("pgrep", ["-P", String(nginx.pid)])).stdout
      .trim()
      .split(/\s+/)
      .map(Number);

    const targets: Target[] = [
      {
        name: "natsmesh gateway, 1 process → NATS → 2 instances",
        url: `http://127.0.0.1:${gw1.port}/bench/`,
        pids: [...gw1.pids, ...meshPids],
        front: gw1.pids,
        nats: [nats.pid],
      },
      {
        name: "natsmesh gateway `--workers 2` (primary + 2 workers) → NATS → 2 instances",
        url: `http://127.0.0.1:${gw2.port}/bench/`,
        pids: [...gw2.pids, ...meshPids],
        front: gw2.pids,
        nats: [nats.pid],
      },
      {
        name: "limit: node:http + lean mux → NATS → 2 raw responders (no natsmesh)",
        url: `http://127.0.0.1:${leanPort}/`,
        pids: leanPids,
        front: [lean.pid!],
        nats: [nats.pid],
      },
      {
        name: `Caddy ${(await run("caddy", ["version"])).stdout.trim().split(/\s/)[0]} → 2 node:http`,
        url: `http://127.0.0.1:${caddyPort}/`,
        pids: [caddy.pid!, ...backendPids],
        front: [caddy.pid!],
        nats: [],
      },
      {
        name: "nginx → 2 node:http (upstream keep-alive)",
        url: `http://127.0.0.1:${nginxPort}/`,
        pids: [nginx.pid!, ...nginxWorkers, ...backendPids],
        front: [nginx.pid!, ...nginxWorkers],
        nats: [],
      },
      {
        name: "direct: wrk → 1 node:http (no proxy)",
        url: `http://127.0.0.1:${a}/`,
        pids: [backendPids[0]!],
        front: [],
        nats: [],
      },
    ];
    // Repetitions interleaved (repetition 1 of every target, then 2, ...): on a shared machine every
    // target sees the same load.
    const results = targets.map(() => ({
      c64: [] as WrkResult[],
      c1: [] as WrkResult[],
      cpu: [] as number[],
      front: [] as number[],
      nats: [] as number[],
      busy: [] as number[],
    }));
    for (const t of targets) {
      process.stderr.write(`bench: warm-up ${t.name} ...\n`);
      await wrk(t.url, 8);
    }
    for (let i = 0; i < REPS; i++) {
      for (const [k, t] of targets.entries()) {
        process.stderr.write(`bench: ${i + 1}/${REPS} ${t.name} ...\n`);
        const res = results[k]!;
        const [all0, front0, nats0, m0] = [sum(t.pids), sum(t.front), sum(t.nats), machineTicks()];
        const r = await wrk(t.url, 64);
        const m1 = machineTicks();
        const per10k = (ms: number) => (ms * 10_000) / (r.rps * SECONDS);
        res.cpu.push(per10k(sum(t.pids) - all0));
        res.front.push(per10k(sum(t.front) - front0));
        res.nats.push(per10k(sum(t.nats) - nats0));
        res.busy.push((100 * (m1.busy - m0.busy)) / (m1.total - m0.total));
        res.c64.push(r);
        res.c1.push(await wrk(t.url, 1));
      }
    }
    const rows: string[] = [];
    let caddyRps = 0;
    let caddyCpu = 0;
    let limitRps = 0;
    const gatewayRps: { name: string; rps: number; cpu: number }[] = [];
    for (const [k, t] of targets.entries()) {
      const { c64, c1, cpu, front, nats: natsCpu, busy } = results[k]!;
      const rps = median(c64.map((r) => r.rps));
      if (t.name.startsWith("Caddy")) [caddyRps, caddyCpu] = [rps, median(cpu)];
      if (t.name.startsWith("limit")) limitRps = rps;
      if (t.name.startsWith("natsmesh")) gatewayRps.push({ name: t.name, rps, cpu: median(cpu) });
      const n = (x: number) => Math.round(x).toLocaleString("en-US");
      const us = (xs: WrkResult[], f: (r: WrkResult) => number) => Math.round(median(xs.map(f)));
      rows.push(
        `| ${t.name} | ${n(rps)} | ${us(c64, (r) => r.p50)} | ${us(c64, (r) => r.p99)} | ${us(c1, (r) => r.p50)} | ${us(c1, (r) => r.p99)} | ${n(median(cpu))} | ${t.front.length ? n(median(front)) : "–"} | ${t.nats.length ? n(median(natsCpu)) : "–"} | ${n(median(busy))}% |`,
      );
    }
    const [best, other] = [...gatewayRps].sort((x, y) => y.rps - x.rps) as [
      (typeof gatewayRps)[0],
      (typeof gatewayRps)[0],
    ];
    const ratio = (r: number) => (r / caddyRps).toFixed(2);
    const label = (n: string) => (n.includes("--workers") ? "2 workers" : "1 process");
    const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
    // Issue #19's targets, for the faster natsmesh row: its req/s against the bare front door's, and
    // its CPU per request over all serving processes against Caddy's, both of this run.
    const vsLimit = (best.rps / limitRps).toFixed(2);
    const cpuVsCaddy = (best.cpu / caddyCpu).toFixed(2);
    const out = [
      `Run ${stamp} UTC · \`npx tsx bench/gateway.ts\` · ${cpus().length} cores · node ${process.version} · ${meshBuildLabel()} · wrk ${SECONDS} s, ${REPS} repetition${REPS > 1 ? "s" : ""} interleaved, medians · 100-byte answers · load average (1 min) ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after · node:cluster scheduling ${process.env.NODE_CLUSTER_SCHED_POLICY ?? "rr (default)"}`,
      "",
      `Targets (issue #19), for the faster natsmesh row (${label(best.name)}): gateway ÷ bare front door = ${vsLimit} (target ≥ 0.80: ${Number(vsLimit) >= 0.8 ? "met" : "missed"}) · CPU per request ÷ Caddy's = ${cpuVsCaddy} (all serving processes; target ≤ 0.70: ${Number(cpuVsCaddy) <= 0.7 ? "met" : "missed"}) · ${label(other.name)}: ${(other.rps / limitRps).toFixed(2)} and ${(other.cpu / caddyCpu).toFixed(2)} · gateway ÷ Caddy = ${ratio(best.rps)} (${label(other.name)}: ${ratio(other.rps)}) · bare front door ÷ Caddy = ${ratio(limitRps)}`,
      "",
      "| target | req/s c=64 | p50 µs c=64 | p99 µs c=64 | p50 µs c=1 | p99 µs c=1 | CPU ms/10k, all serving processes | of which gateway / proxy | of which nats-server | machine busy c=64 (wrk included) |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
    ].join("\n");
    process.stdout.write(`\n${out}`);
    if (!quick && !process.argv.includes("--no-write")) {
      const file = "BENCHMARKS.md";
      const text = await readFile(file, "utf8");
      const start = "<!-- bench:gateway:start -->";
      const end = "<!-- bench:gateway:end -->";
      const i = text.indexOf(start);
      const j = text.indexOf(end);
      if (i < 0 || j < 0) throw new Error(`${file} lacks the ${start} / ${end} markers`);
      await writeFile(file, `${text.slice(0, i + start.length)}\n${out}${text.slice(j)}`);
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
