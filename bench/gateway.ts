/**
 * The front door, side by side on one machine (Gateway issue):
 *   natsmesh gateway → NATS → 2 service instances (node:http listener served with `serve`)
 *   Caddy  reverse proxy → 2 node:http instances (same handler)
 *   nginx  reverse proxy → 2 node:http instances (same handler, upstream keep-alive)
 * Load from wrk (c=64 for req/s and latency, c=1 for latency), 3 repetitions, medians.
 *   npx tsx bench/gateway.ts          (writes BENCHMARKS.md)   --quick: 1 short repetition, prints only
 * Needs the Debian packages caddy, nginx and wrk (apt-get install -y caddy nginx wrk).
 * The gateway and its service instances run natsmesh compiled by tsc (bench/lib/mesh.ts), as
 * `npm run bench` runs them; `--src` runs the TypeScript sources through tsx instead.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { startLocalServer } from "../src/dev/index.js";
import { cpuMs, median } from "./lib/measure.js";
import { BUILD_DIR, buildMesh, meshBuildLabel } from "./lib/mesh.js";
import { freePort } from "./lib/port.js";

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

async function responder(scenario: string, url = "-"): Promise<{ child: ChildProcess; info: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/responders.ts", scenario, url], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  const info = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (l) => resolve(l.slice(6).trim()));
    child.once("exit", (code) => reject(new Error(`responder exited with ${code}`)));
  });
  return { child, info };
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
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "natsmesh-bench-gw-"));
  const nats = await startLocalServer();
  try {
    // natsmesh: 2 instances of service "bench" (node:http listener) and the gateway.
    const meshPids = [nats.pid];
    meshPids.push((await responder("mesh-node", nats.url)).child.pid!);
    meshPids.push((await responder("mesh-node", nats.url)).child.pid!);
    const gwPort = await freePort();
    const adminPort = await freePort();
    const gatewayProcess = await startProcess(
      process.execPath,
      [
        ...(built ? [join(BUILD_DIR, "cli/main.js")] : ["--import", "tsx", "src/cli/main.ts"]),
        "gateway",
        "--listen",
        `127.0.0.1:${gwPort}`,
        "--admin",
        `127.0.0.1:${adminPort}`,
        "--server",
        nats.url,
      ],
      null,
      // Access logs off, as for Caddy (log output discard) and nginx (access_log off).
      { env: { NATSMESH_LOG_LEVEL: "warn" } },
    );
    await waitPort(gwPort);

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
        name: "natsmesh gateway → NATS → 2 instances",
        url: `http://127.0.0.1:${gwPort}/bench/`,
        pids: [gatewayProcess.pid!, ...meshPids],
      },
      {
        name: `Caddy ${(await run("caddy", ["version"])).stdout.trim().split(/\s/)[0]} → 2 node:http`,
        url: `http://127.0.0.1:${caddyPort}/`,
        pids: [caddy.pid!, ...backendPids],
      },
      {
        name: "nginx → 2 node:http (upstream keep-alive)",
        url: `http://127.0.0.1:${nginxPort}/`,
        pids: [nginx.pid!, ...nginxWorkers, ...backendPids],
      },
      {
        name: "direct: wrk → 1 node:http (no proxy)",
        url: `http://127.0.0.1:${a}/`,
        pids: [backendPids[0]!],
      },
    ];
    const rows: string[] = [];
    let caddyRps = 0;
    let gatewayRps = 0;
    for (const t of targets) {
      process.stderr.write(`bench: ${t.name} ...\n`);
      await wrk(t.url, 8); // warm-up
      const c64: WrkResult[] = [];
      const c1: WrkResult[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < REPS; i++) {
        const before = t.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
        const r = await wrk(t.url, 64);
        const used = t.pids.reduce((sum, pid) => sum + cpuMs(pid), 0) - before;
        cpu.push((used * 10_000) / (r.rps * SECONDS));
        c64.push(r);
        c1.push(await wrk(t.url, 1));
      }
      const rps = median(c64.map((r) => r.rps));
      if (t.name.startsWith("Caddy")) caddyRps = rps;
      if (t.name.startsWith("natsmesh")) gatewayRps = rps;
      rows.push(
        `| ${t.name} | ${Math.round(rps).toLocaleString("en-US")} | ${Math.round(median(c64.map((r) => r.p50)))} | ${Math.round(median(c64.map((r) => r.p99)))} | ${Math.round(median(c1.map((r) => r.p50)))} | ${Math.round(median(c1.map((r) => r.p99)))} | ${Math.round(median(cpu)).toLocaleString("en-US")} |`,
      );
    }
    const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
    const out = [
      `Run ${stamp} UTC · \`npx tsx bench/gateway.ts\` · ${cpus().length} cores · node ${process.version} · ${meshBuildLabel()} · wrk ${SECONDS} s, ${REPS} repetitions, medians · 100-byte answers · gateway ÷ Caddy = ${(gatewayRps / caddyRps).toFixed(2)}`,
      "",
      "| target | req/s c=64 | p50 µs c=64 | p99 µs c=64 | p50 µs c=1 | p99 µs c=1 | CPU ms/10k, all serving processes |",
      "|---|---:|---:|---:|---:|---:|---:|",
      ...rows,
      "",
    ].join("\n");
    process.stdout.write(`\n${out}`);
    if (!quick) {
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
