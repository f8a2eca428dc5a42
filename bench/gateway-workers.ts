/**
 * Worker processes of the gateway, three ways, against one process (BENCHMARKS.md "Gateway worker
 * processes"): natsmesh's gateway → NATS → 2 service instances (node:http listener served with
 * `serve`), the front door as
 *   1 process     `natsmesh gateway` (the default)
 *   supervisor    `natsmesh gateway --workers 2`: natsmesh's primary (configuration read once, handed
 *                 to the workers; /readyz and /metrics over all of them; restarts) and 2 workers
 *   node:cluster  a bare primary that only forks 2 workers, each running `createGateway` on the
 *                 shared port (what the supervisor would be without its own messages)
 *   reusePort     2 independent `createGateway` processes on one port with the listen option
 *                 `reusePort` (Node ≥ 22.12 / 23.1; skipped with a message where the runtime lacks it;
 *                 natsmesh has no such option: this script sets it on the public server's listen)
 * Load from wrk -t2 -c64 (5 s; 3 rounds interleaved across the targets); CPU per request of every
 * serving process and of the front door alone, from /proc. Prints a table; writes nothing.
 *   npx tsx bench/gateway-workers.ts [rounds]
 *   NODE_BIN=/path/to/node22 npx tsx bench/gateway-workers.ts   (the front doors on another Node)
 * Needs wrk (apt-get install -y wrk). The front doors run natsmesh compiled by tsc (bench/lib/mesh.ts).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type * as GatewayModule from "../src/gateway/index.js";
import { cpuMs } from "./lib/measure.js";
import { BUILD_DIR, buildMesh } from "./lib/mesh.js";
import { freePort } from "./lib/port.js";

const run = promisify(execFile);
const SECONDS = 5;

/** The gateway of the tsc build, in a front-door process. */
async function gatewayModule(): Promise<typeof GatewayModule> {
  return (await import(pathToFileURL(join(BUILD_DIR, "gateway/index.js")).href)) as typeof GatewayModule;
}

/** `--role cluster <port> <nats> <workers>`: the bare node:cluster primary, and its workers. */
async function clusterRole(port: string, nats: string, workers: number): Promise<void> {
  if (cluster.isPrimary) {
    let listening = 0;
    cluster.on("listening", () => {
      if (++listening === workers) console.log("READY");
    });
    for (let i = 0; i < workers; i++) cluster.fork();
    return;
  }
  const { createGateway } = await gatewayModule();
  await createGateway({ listen: `127.0.0.1:${port}`, connection: { servers: nats } }).listen();
}

/** `--role reuse-port <port> <nats>`: one gateway whose public server listens with `reusePort`. */
async function reusePortRole(port: string, nats: string): Promise<void> {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  if (major < 22 || (major === 22 && minor < 12) || (major === 23 && minor < 1)) {
    console.log(`SKIP reusePort needs Node 22.12 or 23.1 (this is ${process.version})`);
    return;
  }
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (args[0] === Number(port) && typeof args[1] === "string")
      return listen.call(this, { port: Number(port), host: args[1], reusePort: true }, args[2] as () => void);
    return listen.apply(this, args as Parameters<typeof listen>);
  } as typeof listen;
  const { createGateway } = await gatewayModule();
  await createGateway({ listen: `127.0.0.1:${port}`, connection: { servers: nats } }).listen();
  console.log("READY");
}

const children: ChildProcess[] = [];

/** Starts a process on NODE_BIN (or this Node) and resolves with its first line matching `ready`. */
function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.env.NODE_BIN ?? process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NATSMESH_LOG_LEVEL: "warn" }, // access lines off
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const onLine = (line: string) => ready.test(line) && resolve({ child, line });
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
  });
}

async function childPids(pid: number): Promise<number[]> {
  const { stdout } = await run("pgrep", ["-P", String(pid)]);
  return stdout.trim().split(/\s+/).map(Number);
}

/** Busy and total CPU ticks of the whole machine so far, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

async function wrk(url: string, connections: number, seconds: number): Promise<number> {
  const { stdout } = await run("wrk", ["-t", "2", "-c", String(connections), "-d", `${seconds}s`, url]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1];
  if (non2xx) throw new Error(`${url}: ${non2xx} non-2xx responses`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
}

interface Target {
  name: string;
  url: string;
  /** The front door's processes. */
  front: number[];
}

async function main(rounds: number): Promise<void> {
  buildMesh();
  const self = ["--import", "tsx", "bench/gateway-workers.ts", "--role"];
  const { startLocalServer } = await import("../src/dev/index.js");
  const { startBench } = await import("./lib/spawn.js");
  const nats = await startLocalServer();
  try {
    const backend = [nats.pid];
    for (let i = 0; i < 2; i++)
      backend.push((await startBench("bench/responders.ts", ["mesh-node", nats.url, "bench"])).child.pid!);
    const cli = join(BUILD_DIR, "cli/main.js");
    const targets: Target[] = [];
    const gateway = async (name: string, extra: string[]) => {
      const port = await freePort();
      const args = [cli, "gateway", "--listen", `127.0.0.1:${port}`, "--server", nats.url, ...extra];
      const { child } = await start(args, /gateway listening on/);
      const workers = extra.length ? await childPids(child.pid!) : [];
      targets.push({ name, url: `http://127.0.0.1:${port}/bench/`, front: [child.pid!, ...workers] });
    };
    await gateway("1 process", []);
    await gateway("supervisor: `--workers 2` (primary + 2 workers)", [
      "--admin",
      `127.0.0.1:${await freePort()}`,
      "--workers",
      "2",
    ]);
    {
      const port = await freePort();
      const { child } = await start([...self, "cluster", String(port), nats.url, "2"], /^READY/);
      targets.push({
        name: "bare node:cluster (primary + 2 workers)",
        url: `http://127.0.0.1:${port}/bench/`,
        front: [child.pid!, ...(await childPids(child.pid!))],
      });
    }
    {
      const port = await freePort();
      const front: number[] = [];
      for (let i = 0; i < 2; i++) {
        const { child, line } = await start([...self, "reuse-port", String(port), nats.url], /^(READY|SKIP)/);
        if (line.startsWith("SKIP")) process.stderr.write(`bench: ${line.slice(5)}\n`);
        else front.push(child.pid!);
      }
      if (front.length === 2)
        targets.push({ name: "reusePort: 2 processes", url: `http://127.0.0.1:${port}/bench/`, front });
    }
    for (const t of targets) await wrk(t.url, 64, 3); // warm-up: every worker JIT-compiled
    const sum = (pids: number[]) => pids.reduce((acc, pid) => acc + cpuMs(pid), 0);
    const results = targets.map(() => [] as { rps: number; all: number; front: number; busy: number }[]);
    for (let r = 0; r < rounds; r++) {
      for (const [k, t] of targets.entries()) {
        process.stderr.write(`bench: ${r + 1}/${rounds} ${t.name} ...\n`);
        const pids = [...t.front, ...backend];
        const [all0, front0, m0] = [sum(pids), sum(t.front), machineTicks()];
        const rps = await wrk(t.url, 64, SECONDS);
        const m1 = machineTicks();
        const requests = rps * SECONDS;
        results[k]!.push({
          rps,
          all: ((sum(pids) - all0) * 1000) / requests,
          front: ((sum(t.front) - front0) * 1000) / requests,
          busy: (100 * (m1.busy - m0.busy)) / (m1.total - m0.total),
        });
      }
    }
    const node = (await run(process.env.NODE_BIN ?? process.execPath, ["--version"])).stdout.trim();
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
    console.log(
      `\nRun ${stamp} UTC · front doors on node ${node} · wrk -t2 -c64 ${SECONDS} s, ${rounds} rounds interleaved · load average at the end ${load}\n`,
    );
    console.log(
      "| front door | req/s, per round | CPU µs/request, all serving processes | of which front door | machine busy |",
    );
    console.log("|---|---|---|---|---|");
    for (const [k, t] of targets.entries()) {
      const xs = results[k]!;
      const f = (pick: (x: (typeof xs)[0]) => number, digits = 0) =>
        xs.map((x) => pick(x).toLocaleString("en-US", { maximumFractionDigits: digits })).join(" / ");
      console.log(
        `| ${t.name} | ${f((x) => x.rps)} | ${f((x) => x.all, 1)} | ${f((x) => x.front, 1)} | ${f((x) => x.busy)}% |`,
      );
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await nats.stop();
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "--role") {
  const [, role, port, nats, workers] = argv as [string, string, string, string, string?];
  if (role === "cluster") await clusterRole(port, nats, Number(workers));
  else await reusePortRole(port, nats);
} else {
  process.on("exit", () => {
    for (const c of children) c.kill("SIGKILL");
  });
  await main(Number(argv[0] ?? 3));
  process.exit(0);
}
