/**
 * natsmesh wire-format bench: compares request/reply correlation mechanisms and HTTP-head
 * encodings over NATS. Starts its own nats-server on a free port (never 4222).
 *
 *   npx tsx bench/wire/run.ts                       # responder in-process (default)
 *   npx tsx bench/wire/run.ts --responder child     # responder in a separate node process
 *   options: --variants A,B,D  --duration 3000  --warmup 1000  --reps 3  --concurrency 64
 *
 * Per variant: throughput = req/s with `concurrency` requests kept in flight, `reps` consecutive
 * windows of `duration` ms after `warmup` ms; latency = p50/p99 of single in-flight requests,
 * same windows. Reported figures are medians over the windows. CPU is process.cpuUsage()
 * (user+sys) and /proc/<nats-server pid>/stat, per 10k requests, during the throughput windows.
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { BODY_SIZE } from "./codec.js";
import type { FromChild, ToChild } from "./responder-child.js";
import { type BenchClient, findVariant, VARIANTS, type Variant } from "./variants.js";

const NATS_SERVER = "/usr/sbin/nats-server";

const { values: args } = parseArgs({
  options: {
    responder: { type: "string", default: "inproc" },
    variants: { type: "string", default: VARIANTS.map((v) => v.id).join(",") },
    duration: { type: "string", default: "3000" },
    warmup: { type: "string", default: "1000" },
    reps: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
  },
});
const MODE = args.responder === "child" ? "child" : "inproc";
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const REPS = Number(args.reps);
const CONCURRENCY = Number(args.concurrency);
const LAT_WARMUP = Math.min(500, WARMUP);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------------------------------------
// nats-server
// ---------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const addr = srv.address();
        const p = typeof addr === "object" && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 4222 && port !== 0) return port;
  }
}

interface Server {
  url: string;
  pid: number;
  proc: ChildProcess;
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const proc = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  if (proc.pid === undefined) throw new Error("failed to spawn nats-server");
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    try {
      const nc = await connect({ servers: url, reconnect: false });
      await nc.close();
      return { url, pid: proc.pid, proc };
    } catch {
      await sleep(100);
    }
  }
  proc.kill();
  throw new Error("nats-server did not come up");
}

const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** utime+stime of a process, in ms, from /proc/<pid>/stat. */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

// ---------------------------------------------------------------------------------------------
// responder hosts
// ---------------------------------------------------------------------------------------------

interface ResponderHost {
  start(v: Variant, subject: string): Promise<void>;
  /** responder process CPU in ms, or null when it shares the client's process */
  cpu(): Promise<number | null>;
  stop(): Promise<void>;
  close(): void;
}

class InProcResponder implements ResponderHost {
  private nc: NatsConnection | null = null;
  constructor(private readonly servers: string) {}
  async start(v: Variant, subject: string): Promise<void> {
    this.nc = await connect({ servers: this.servers, noAsyncTraces: !v.asyncTraces });
    v.respond(this.nc, subject);
    await this.nc.flush();
  }
  async cpu(): Promise<number | null> {
    return null;
  }
  async stop(): Promise<void> {
    await this.nc?.close();
    this.nc = null;
  }
  close(): void {}
}

class ChildResponder implements ResponderHost {
  private readonly child: ChildProcess;
  private waiters: Array<(m: FromChild) => void> = [];
  constructor(private readonly servers: string) {
    const entry = fileURLToPath(new URL("./responder-child.ts", import.meta.url));
    this.child = fork(entry, [], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    this.child.on("message", (m: FromChild) => {
      if (m.type === "error") {
        log(`child error: ${m.message}`);
        process.exit(1);
      }
      this.waiters.shift()?.(m);
    });
  }
  private ask(m: ToChild): Promise<FromChild> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.send(m);
    });
  }
  async start(v: Variant, subject: string): Promise<void> {
    await this.ask({ type: "start", variant: v.id, servers: this.servers, subject });
  }
  async cpu(): Promise<number | null> {
    const r = await this.ask({ type: "cpu" });
    return r.type === "cpu" ? cpuMs(r.usage) : null;
  }
  async stop(): Promise<void> {
    await this.ask({ type: "stop" });
  }
  close(): void {
    this.child.send({ type: "exit" } satisfies ToChild);
  }
}

// ---------------------------------------------------------------------------------------------
// measurement
// ---------------------------------------------------------------------------------------------

interface ThroughputRep {
  rps: number;
  /** this (client) process CPU ms per 10k requests; in inproc mode includes the responder */
  cpu10k: number;
  /** responder process CPU ms per 10k (child mode only) */
  respCpu10k: number | null;
  srvCpu10k: number;
  outBytes: number;
  inBytes: number;
}

interface Snapshot {
  t: number;
  done: number;
  cpu: number;
  resp: number | null;
  srv: number;
  out: number;
  in: number;
}

async function throughput(
  client: BenchClient,
  nc: NatsConnection,
  responder: ResponderHost,
  serverPid: number,
): Promise<ThroughputRep[]> {
  let done = 0;
  let stop = false;
  let failure: unknown = null;
  const worker = async () => {
    while (!stop) {
      try {
        await client.call();
      } catch (e) {
        failure ??= e;
        stop = true;
      }
      done++;
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, worker);
  const snap = async (): Promise<Snapshot> => {
    const resp = await responder.cpu();
    const st = nc.stats();
    return {
      t: performance.now(),
      done,
      cpu: cpuMs(process.cpuUsage()),
      resp,
      srv: procCpuMs(serverPid),
      out: st.outBytes,
      in: st.inBytes,
    };
  };
  await sleep(WARMUP);
  const reps: ThroughputRep[] = [];
  for (let i = 0; i < REPS && !stop; i++) {
    const a = await snap();
    await sleep(DURATION);
    const b = await snap();
    const n = b.done - a.done;
    const per10k = (x: number) => (x * 10_000) / n;
    reps.push({
      rps: (n * 1000) / (b.t - a.t),
      cpu10k: per10k(b.cpu - a.cpu),
      respCpu10k: a.resp === null || b.resp === null ? null : per10k(b.resp - a.resp),
      srvCpu10k: per10k(b.srv - a.srv),
      outBytes: (b.out - a.out) / n,
      inBytes: (b.in - a.in) / n,
    });
  }
  stop = true;
  await Promise.all(workers);
  if (failure) throw failure;
  return reps;
}

interface LatencyRep {
  p50: number;
  p99: number;
}

async function latency(client: BenchClient): Promise<LatencyRep[]> {
  const warmEnd = performance.now() + LAT_WARMUP;
  while (performance.now() < warmEnd) await client.call();
  const reps: LatencyRep[] = [];
  for (let i = 0; i < REPS; i++) {
    const samples: number[] = [];
    const end = performance.now() + DURATION;
    for (;;) {
      const t0 = performance.now();
      await client.call();
      const t1 = performance.now();
      samples.push(t1 - t0);
      if (t1 >= end) break;
    }
    const s = Float64Array.from(samples).sort();
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 1000;
    reps.push({ p50: q(0.5), p99: q(0.99) });
  }
  return reps;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row {
  v: Variant;
  tp: ThroughputRep[];
  lat: LatencyRep[];
}

async function runVariant(v: Variant, server: Server, responder: ResponderHost): Promise<Row> {
  const subject = `bench.wire.${v.id}`;
  await responder.start(v, subject);
  const nc = await connect({ servers: server.url, noAsyncTraces: !v.asyncTraces });
  const client = v.client(nc, subject);
  try {
    await client.call(); // sanity: one correct round trip
    const tp = await throughput(client, nc, responder, server.pid);
    const lat = await latency(client);
    return { v, tp, lat };
  } finally {
    client.close();
    await nc.close();
    await responder.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

const int = (x: number) => Math.round(x).toLocaleString("en-US");
const fix1 = (x: number) => x.toFixed(1);

function table(rows: readonly Row[]): string {
  const base = rows.find((r) => r.v.id === "B");
  const baseRps = base ? median(base.tp.map((t) => t.rps)) : null;
  const child = MODE === "child";
  const head = [
    "Variant",
    `req/s c${CONCURRENCY} (min–max)`,
    "vs B",
    "p50 µs c1",
    "p99 µs c1",
    child ? "client CPU ms/10k" : "node CPU ms/10k",
    ...(child ? ["responder CPU ms/10k"] : []),
    "server CPU ms/10k",
    "bytes out/in per req",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) {
    const rps = r.tp.map((t) => t.rps);
    const m = median(rps);
    const cells = [
      `${r.v.id} — ${r.v.desc}`,
      `${int(m)} (${int(Math.min(...rps))}–${int(Math.max(...rps))})`,
      baseRps ? `${((m / baseRps) * 100).toFixed(0)}%` : "",
      int(median(r.lat.map((l) => l.p50))),
      int(median(r.lat.map((l) => l.p99))),
      fix1(median(r.tp.map((t) => t.cpu10k))),
      ...(child ? [fix1(median(r.tp.map((t) => t.respCpu10k ?? Number.NaN)))] : []),
      fix1(median(r.tp.map((t) => t.srvCpu10k))),
      `${int(median(r.tp.map((t) => t.outBytes)))}/${int(median(r.tp.map((t) => t.inBytes)))}`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const variants = (args.variants ?? "").split(",").map((id) => findVariant(id.trim()));
  const serverVersion = execFileSync(NATS_SERVER, ["--version"]).toString().trim();
  const server = await startServer();
  const responder: ResponderHost =
    MODE === "child" ? new ChildResponder(server.url) : new InProcResponder(server.url);
  const started = performance.now();
  const rows: Row[] = [];
  try {
    for (const v of variants) {
      log(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${v.id}: ${v.desc}`);
      rows.push(await runVariant(v, server, responder));
    }
  } finally {
    responder.close();
    server.proc.kill();
  }
  console.log(
    `## responder: ${MODE === "child" ? "separate node process" : "same process"}\n\n` +
      `nproc ${availableParallelism()}, node ${process.version}, ${serverVersion}; body ${BODY_SIZE} B; ${REPS}×${DURATION} ms windows after ${WARMUP} ms warm-up (latency warm-up ${LAT_WARMUP} ms); ` +
      `medians. Total ${((performance.now() - started) / 1000).toFixed(0)} s.\n`,
  );
  console.log(table(rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
