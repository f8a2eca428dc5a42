/**
 * `npx tsx bench/durable/proof.ts [--requests N] [--scenario single|cluster|both]`: the proof of
 * durable requests (issue #22, RELIABILITY.md "Durable requests") anyone can repeat.
 *
 * N durable POSTs (default 1000), each with its own `Idempotency-Key` (one in ten submitted twice),
 * are submitted while the two worker instances (child processes, dist/) work them, and meanwhile:
 *
 * - `single`: one nats-server with a file store; a worker is SIGKILLed (and started again), then the
 *   nats-server is SIGKILLed and restarted on the same store;
 * - `cluster`: a 3-node JetStream cluster, stream and bucket with 3 replicas; a worker is SIGKILLed,
 *   then the node leading the service's stream is SIGKILLed and stays down for 5 s.
 *
 * A submission that fails (the node it was connected to died, JetStream electing a leader) is
 * submitted again with the same key, as a client should. Three poison requests (the handler always
 * throws) must end as dead letters. At the end every request must be answered with its own body
 * (nothing lost), each key must name one request (a repeat gets the same id), and every key must
 * have run at least once (the execution log the workers write before answering). Exit status 0
 * when all holds, 1 when not.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { DurableState, DurableStore, streamName } from "../../dist/durable/index.js";
import { ensureBuilt } from "../../test/support/build.js";
import { NatsServer } from "../../test/support/nats-server.js";
import { SoakCluster } from "../soak/mesh.js";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
const log = (line: string) => process.stderr.write(`durable-proof: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Options {
  requests: number;
  scenarios: Array<"single" | "cluster">;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { requests: 1000, scenarios: ["single", "cluster"] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--requests") o.requests = Number(argv[++i]);
    else if (a === "--scenario") {
      const s = argv[++i];
      if (s !== "single" && s !== "cluster" && s !== "both")
        throw new Error(`--scenario: single, cluster or both`);
      o.scenarios = s === "both" ? ["single", "cluster"] : [s];
    } else throw new Error(`unknown argument '${a}'`);
  }
  if (!Number.isInteger(o.requests) || o.requests < 10) throw new Error("--requests: an integer ≥ 10");
  return o;
}

/** A worker process; `start()` again after a kill. */
class Worker {
  child: ChildProcess | undefined;
  constructor(
    readonly label: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: { ...process.env, ...this.env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("ready ")) resolve();
      });
      child.once("exit", (code, signal) =>
        reject(new Error(`worker ${this.label} exited (${code ?? signal})`)),
      );
    });
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  }
}

/** The NATS side of a scenario. */
interface Nats {
  urls: string[];
  /** The scenario's node fault: returns once the node is back. */
  fault(): Promise<void>;
  faultName: string;
  replicas: number;
  stop(): Promise<void>;
}

async function singleNode(dir: string): Promise<Nats> {
  const server = await NatsServer.start({ jetstream: { store_dir: join(dir, "js") } });
  return {
    urls: [server.url],
    faultName: "the nats-server SIGKILLed, restarted on its store after 1 s",
    replicas: 1,
    async fault() {
      await server.kill("SIGKILL");
      await sleep(1000);
      await server.restart();
    },
    stop: () => server.stop(),
  };
}

async function threeNodes(): Promise<Nats> {
  const t0 = performance.now();
  const nodes = await SoakCluster.start({ ping: undefined, jetstream: true }, () => performance.now() - t0);
  const nats: Nats = {
    urls: nodes.urls,
    faultName: "the stream's leader node (of 3) SIGKILLed, down for 5 s, restarted",
    replicas: 3,
    async fault() {
      // The node that leads the service's stream: its loss forces an election of the stream.
      const nc = await connect({ servers: nodes.urls });
      const info = await (await jetstreamManager(nc)).streams.info(streamName("mesh", "proof"));
      await nc.close();
      const leader = nodes.nodes.servers.findIndex((s) => s.name === info.cluster?.leader);
      log(`cluster: stream leader ${info.cluster?.leader} (node ${leader + 1}) SIGKILLed`);
      await nodes.kill(Math.max(0, leader), 5000);
    },
    stop: () => nodes.stop(),
  };
  return nats;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Result {
  scenario: string;
  fault: string;
  requests: number;
  repeats: number;
  resubmitted: number;
  answered: number;
  lost: number;
  wrongBody: number;
  idMismatch: number;
  neverRan: number;
  ranTwice: number;
  dead: number;
  submitP50: number;
  submitP99: number;
  doneSeconds: number;
}

async function runScenario(kind: "single" | "cluster", o: Options): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "natsmesh-durable-proof-"));
  const execLog = join(dir, "exec.log");
  writeFileSync(execLog, "");
  const nats = kind === "single" ? await singleNode(dir) : await threeNodes();
  const env = {
    DURABLE_NATS_URLS: nats.urls.join(","),
    DURABLE_EXEC_LOG: execLog,
    DURABLE_CONCURRENCY: "8",
    DURABLE_WORK_MS: "20",
    DURABLE_OPTIONS: JSON.stringify({
      replicas: nats.replicas,
      ackWait: 2000,
      maxDeliveries: 3,
      backoff: [200],
    }),
  };
  const workers = [new Worker("a", env), new Worker("b", env)];
  const nc = await connect({ servers: nats.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  try {
    for (const w of workers) await w.start();
    const store = new DurableStore(nc, "mesh");
    const ids = new Map<string, string>();
    const submitTimes: number[] = [];
    let resubmitted = 0;
    let idMismatch = 0;
    const submit = async (key: string, path: string, body: string): Promise<string> => {
      const deadline = performance.now() + 60_000;
      for (;;) {
        const started = performance.now();
        try {
          const req = { method: "POST", path, headers: ["idempotency-key", key], body: Buffer.from(body) };
          const { id } = await store.submit("proof", req, key);
          submitTimes.push(performance.now() - started);
          return id;
        } catch (err) {
          if (performance.now() > deadline) throw err;
          resubmitted++;
          await sleep(100);
        }
      }
    };
    const keys = Array.from({ length: o.requests }, (_, i) => `r-${i}`);
    const repeats = keys.filter((_, i) => i % 10 === 0);
    log(`${kind}: submitting ${o.requests} requests (${repeats.length} twice) and 3 poison ones`);
    const started = performance.now();
    let next = 0;
    const submitter = async () => {
      for (let i = next++; i < keys.length; i = next++) {
        const key = keys[i]!;
        ids.set(key, await submit(key, "/order", JSON.stringify({ key })));
        if (i % 10 === 0 && (await submit(key, "/order", JSON.stringify({ key }))) !== ids.get(key))
          idMismatch++;
        // Paced, so the faults below land while requests are still coming and being worked.
        await sleep(20);
      }
    };
    const chaos = (async () => {
      await sleep(1000);
      log(`${kind}: SIGKILL worker a`);
      await workers[0]!.kill();
      await sleep(1000);
      await workers[0]!.start();
      log(`${kind}: worker a started again; ${nats.faultName}`);
      await nats.fault();
      log(`${kind}: node back`);
    })();
    const poison = ["p-0", "p-1", "p-2"];
    const poisonIds = await Promise.all(poison.map((k) => submit(k, "/poison", "{}")));
    await Promise.all([...Array.from({ length: 8 }, submitter), chaos]);
    log(
      `${kind}: all submitted after ${((performance.now() - started) / 1000).toFixed(1)} s; waiting for answers`,
    );
    const done = new Map<string, string>();
    const deadline = performance.now() + 120_000;
    while (done.size < keys.length && performance.now() < deadline) {
      for (const key of keys) {
        if (done.has(key)) continue;
        const s = await store.lookup("proof", ids.get(key)!).catch(() => undefined);
        if (s?.state === DurableState.Done) done.set(key, Buffer.from(s.record!.answer!.body).toString());
      }
      if (done.size < keys.length) await sleep(250);
    }
    const doneSeconds = (performance.now() - started) / 1000;
    let dead = 0;
    for (const id of poisonIds)
      if ((await store.lookup("proof", id).catch(() => undefined))?.state === DurableState.Dead) dead++;
    const runs = new Map<string, number>();
    for (const line of readFileSync(execLog, "utf8").split("\n")) {
      const key = line.split(" ")[0];
      if (key) runs.set(key, (runs.get(key) ?? 0) + 1);
    }
    const sorted = submitTimes.sort((a, b) => a - b);
    return {
      scenario: kind,
      fault: nats.faultName,
      requests: keys.length,
      repeats: repeats.length,
      resubmitted,
      answered: done.size,
      lost: keys.length - done.size,
      wrongBody: keys.filter((k) => done.has(k) && done.get(k) !== JSON.stringify({ key: k })).length,
      idMismatch,
      neverRan: keys.filter((k) => (runs.get(k) ?? 0) === 0).length,
      ranTwice: keys.filter((k) => (runs.get(k) ?? 0) > 1).length,
      dead,
      submitP50: quantile(sorted, 0.5),
      submitP99: quantile(sorted, 0.99),
      doneSeconds,
    };
  } finally {
    for (const w of workers) await w.kill("SIGKILL");
    await nc.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function format(results: Result[], command: string): string {
  const lines = [
    `Command: \`${command}\` (${new Date().toISOString()}, load average before: ${loadavg()[0]!.toFixed(2)})`,
    "",
    "| scenario | node fault | requests (keys sent twice) | submissions repeated after a failure | answered | lost | wrong body | key → another id | never ran | ran twice | poison → dead letters | submit p50 / p99 | all answered after |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of results)
    lines.push(
      `| ${r.scenario} | ${r.fault}; worker a SIGKILLed | ${r.requests} (${r.repeats}) | ${r.resubmitted} | ${r.answered} | ${r.lost} | ${r.wrongBody} | ${r.idMismatch} | ${r.neverRan} | ${r.ranTwice} | ${r.dead}/3 | ${r.submitP50.toFixed(1)} / ${r.submitP99.toFixed(1)} ms | ${r.doneSeconds.toFixed(1)} s |`,
    );
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  log("building dist/ when src/ is newer ...");
  await ensureBuilt();
  const results: Result[] = [];
  for (const kind of o.scenarios) results.push(await runScenario(kind, o));
  process.stdout.write(`${format(results, `npx tsx bench/durable/proof.ts ${argv.join(" ")}`.trim())}\n`);
  const ok = results.every(
    (r) => r.lost === 0 && r.wrongBody === 0 && r.idMismatch === 0 && r.neverRan === 0 && r.dead === 3,
  );
  return ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
