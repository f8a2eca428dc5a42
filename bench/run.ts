/**
 * The request-path benchmark: every scenario side by side on one nats-server, 100-byte answers.
 *   npm run bench            (writes the table into BENCHMARKS.md)
 *   npm run bench -- --quick (shorter runs, prints only)
 * Each scenario's service side runs in its own process (bench/responders.ts); 3 repetitions, medians.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Pool, request } from "undici";
import { startLocalServer } from "../src/dev/index.js";
import { createFetch, MeshDispatcher } from "../src/index.js";
import { type Call, latency, median, throughput } from "./lib/measure.js";
import { BODY_100 } from "./lib/payload.js";
import { LeanMux } from "./wire/mux.js";

const quick = process.argv.includes("--quick");
const REPS = quick ? 1 : 3;
const DURATION = quick ? 1000 : 3000;
const WARMUP = quick ? 300 : 1000;
const CONCURRENCY = 64;

interface Scenario {
  id: string;
  label: string;
  responder: string;
  /** Builds the client call; returns it with a teardown. */
  client(url: string, responderInfo: string): Promise<{ call: Call; close(): Promise<void> }>;
}

async function nats(url: string, lean = true): Promise<NatsConnection> {
  return connect({ servers: url, ...(lean ? { noAsyncTraces: true } : {}) });
}

/** natsmesh's fetch calling service `bench`; the responder decides which handler kind answers. */
async function meshFetchClient(url: string): Promise<{ call: Call; close(): Promise<void> }> {
  const nc = await nats(url);
  const f = createFetch({ nc });
  return { call: async () => (await f("http://bench/")).arrayBuffer(), close: () => nc.close() };
}

const SCENARIOS: Scenario[] = [
  {
    id: "a",
    label: "nats.js `nc.request`, library defaults",
    responder: "raw",
    async client(url) {
      const nc = await nats(url, false);
      return {
        call: async () => (await nc.request("bench.raw", BODY_100, { timeout: 5000 })).data,
        close: () => nc.close(),
      };
    },
  },
  {
    id: "b",
    label: "lean mux (one inbox subscription, pending map, `noAsyncTraces`)",
    responder: "raw",
    async client(url) {
      const nc = await nats(url);
      const mux = new LeanMux(nc);
      return {
        call: async () => (await mux.request("bench.raw", BODY_100)).data,
        close: async () => {
          mux.close();
          await nc.close();
        },
      };
    },
  },
  {
    id: "c",
    label: "natsmesh `createFetch` → `serve` (Fetch handler)",
    responder: "mesh-fetch",
    client: meshFetchClient,
  },
  {
    id: "c2",
    label: "natsmesh `createFetch` → `serve` (node:http listener)",
    responder: "mesh-node",
    client: meshFetchClient,
  },
  {
    id: "d",
    label: "natsmesh `createFetch` → `serve` (express app)",
    responder: "mesh-express",
    client: meshFetchClient,
  },
  {
    id: "u",
    label: "natsmesh `MeshDispatcher` (undici.request) → `serve` (Fetch handler)",
    responder: "mesh-fetch",
    async client(url) {
      const nc = await nats(url);
      const dispatcher = new MeshDispatcher({ nc });
      return {
        call: async () => (await request("http://bench/", { dispatcher })).body.arrayBuffer(),
        close: () => nc.close(),
      };
    },
  },
  {
    id: "h",
    label: "direct HTTP keep-alive (undici Pool → node:http), no NATS",
    responder: "http",
    async client(_url, port) {
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
      return {
        call: async () => (await pool.request({ path: "/", method: "GET" })).body.arrayBuffer(),
        close: () => pool.close(),
      };
    },
  },
];

async function startResponder(scenario: string, url: string): Promise<{ child: ChildProcess; info: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/responders.ts", scenario, url], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<string>((resolve, reject) => {
    lines.once("line", (line) =>
      line.startsWith("READY") ? resolve(line.slice(6).trim()) : reject(new Error(line)),
    );
    child.once("exit", (code) => reject(new Error(`responder ${scenario} exited with ${code}`)));
  });
  return { child, info };
}

interface Row {
  scenario: Scenario;
  rps: number;
  p50: number;
  p99: number;
  cpu: Record<string, number>;
}

async function measure(scenario: Scenario, url: string, serverPid: number): Promise<Row> {
  const { child, info } = await startResponder(scenario.responder, url);
  const { call, close } = await scenario.client(url, info);
  const rps: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  const cpus: Record<string, number[]> = {};
  try {
    for (let rep = 0; rep < REPS; rep++) {
      const t = await throughput(call, {
        concurrency: CONCURRENCY,
        durationMs: DURATION,
        warmupMs: WARMUP,
        pids: { client: process.pid, service: child.pid!, "nats-server": serverPid },
      });
      rps.push(t.rps);
      for (const [k, v] of Object.entries(t.cpuPer10k)) {
        cpus[k] ??= [];
        cpus[k].push(v);
      }
      const l = await latency(call, { durationMs: DURATION / 2, warmupMs: WARMUP / 2 });
      p50.push(l.p50);
      p99.push(l.p99);
    }
  } finally {
    await close();
    child.stdin!.end();
    await new Promise((r) => child.once("exit", r));
  }
  const cpu = Object.fromEntries(Object.entries(cpus).map(([k, v]) => [k, median(v)]));
  return { scenario, rps: median(rps), p50: median(p50), p99: median(p99), cpu };
}

function table(rows: Row[]): string {
  const a = rows.find((r) => r.scenario.id === "a")!.rps;
  const b = rows.find((r) => r.scenario.id === "b")!.rps;
  const h = rows.find((r) => r.scenario.id === "h")!.rps;
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const lines = [
    "| | scenario | req/s c=64 | × (a) | × (b) | × HTTP | p50 µs c=1 | p99 µs c=1 | CPU ms/10k client | service | nats-server |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.label} | ${fmt(r.rps)} | ${(r.rps / a).toFixed(2)} | ${(r.rps / b).toFixed(2)} | ${(r.rps / h).toFixed(2)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpu.client!)} | ${fmt(r.cpu.service!)} | ${fmt(r.cpu["nats-server"]!)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const only = process.argv
    .find((a) => a.startsWith("--only="))
    ?.slice(7)
    .split(",");
  const server = await startLocalServer();
  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      if (only && !only.includes(s.id) && !["a", "b", "h"].includes(s.id)) continue;
      process.stderr.write(`bench: ${s.id} ${s.label} ...\n`);
      rows.push(await measure(s, server.url, server.pid));
    }
  } finally {
    await server.stop();
  }
  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const head = `Run ${stamp} UTC · \`npm run bench\` · ${cpus().length} cores (${cpus()[0]?.model.trim()}) · node ${process.version} · nats-server from PATH · ${REPS} repetitions of ${DURATION / 1000} s, medians · 100-byte bodies`;
  const out = `${head}\n\n${table(rows)}\n`;
  process.stdout.write(`\n${out}`);
  if (!quick && !only) {
    const file = "BENCHMARKS.md";
    const text = readFileSync(file, "utf8");
    const start = "<!-- bench:core:start -->";
    const end = "<!-- bench:core:end -->";
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < 0) throw new Error(`${file} lacks the ${start} / ${end} markers`);
    writeFileSync(file, `${text.slice(0, i + start.length)}\n${out}${text.slice(j)}`);
    process.stderr.write(`bench: wrote ${file}\n`);
  }
}

await main();
