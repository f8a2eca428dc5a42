/**
 * The client side of one request-path scenario, in its own process so that its CPU is its own and
 * no scenario's modules (or JIT state) affect another's:
 *   node --import tsx bench/client.ts <scenario-id> <nats-url> <responder-info> <service-pid> <nats-server-pid>
 * The headline scenarios (ids starting with `j`) make the call of bench/lib/order.ts whatever the
 * job's size; the first answer is checked before anything is measured. Prints `READY`; then for each JSON line on stdin ({@link Job}) runs the load and prints one JSON
 * line ({@link JobResult}). Exits when stdin closes.
 */
import { createInterface } from "node:readline";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Pool, request } from "undici";
import { latency, throughput, warmUpCalls } from "./lib/measure.js";
import { loadMesh } from "./lib/mesh.js";
import { checkSummary, ORDER, ORDER_ACTION, ORDER_PATH } from "./lib/order.js";
import { ANSWER_SIZES, BODY_100 } from "./lib/payload.js";
import { loadPeer } from "./lib/peer.js";
import { serviceName } from "./lib/scenarios.js";
import { LeanMux } from "./wire/mux.js";

/** One measurement asked of a client process. */
export interface Job {
  size: number;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  /** 0: no c=1 latency run. */
  latencyMs: number;
  /** Before the rest: calls until this many completed (or `warmupCapMs` passed). */
  warmupCalls?: number;
  warmupCapMs?: number;
}

/** Its answer. */
export interface JobResult {
  rps: number;
  /** Requests and monotonic-clock window (µs) of the c=64 run. */
  requests: number;
  window: [number, number];
  cpuPer10k: Record<string, number>;
  p50: number;
  p99: number;
}

type SizedCall = (size: number) => Promise<unknown>;

/**
 * Time limit of one raw NATS call (a, b, ja, jb): generous, as natsmesh's own client default, since
 * on the loaded shared machine one 512 KB call among 64 once took over 5 s and stopped the run.
 */
const CALL_TIMEOUT = 30_000;

const [id, url, info, servicePid, natsPid] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];

async function nats(lean = true): Promise<NatsConnection> {
  return connect({ servers: url, ...(lean ? { noAsyncTraces: true } : {}) });
}

/** The request for each size names the size: subject `<name>.raw.<n>` or path `/<n>`. */
const RAW_SUBJECT = new Map(ANSWER_SIZES.map((n) => [n, `${serviceName(id)}.raw.${n}`]));
const MESH_URL = new Map(ANSWER_SIZES.map((n) => [n, `http://${serviceName(id)}/${n}`]));
const PATH = new Map(ANSWER_SIZES.map((n) => [n, `/${n}`]));

const { createFetch, MeshDispatcher } = await loadMesh();

/** The headline call (bench/lib/order.ts): the order serialised per call, the answer parsed. */
const ORDER_SUBJECT = `${serviceName(id)}.${ORDER_ACTION}`;
const ORDER_URL = `http://${serviceName(id)}${ORDER_PATH}`;
const JSON_HEADERS = { "content-type": "application/json" };

/** The headline call of each JSON scenario (bench/lib/scenarios.ts JSON_SCENARIOS). */
async function orderCall(): Promise<() => Promise<unknown>> {
  switch (id) {
    case "ja": {
      const nc = await nats(false);
      return async () =>
        (await nc.request(ORDER_SUBJECT, JSON.stringify(ORDER), { timeout: CALL_TIMEOUT })).json();
    }
    case "jb": {
      const mux = new LeanMux(await nats(), CALL_TIMEOUT);
      return async () => (await mux.request(ORDER_SUBJECT, Buffer.from(JSON.stringify(ORDER)))).json();
    }
    case "jc":
    case "jo":
    case "jn":
    case "je":
    case "jf": {
      const f = createFetch({ nc: await nats() });
      return async () =>
        (await f(ORDER_URL, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(ORDER) })).json();
    }
    case "jh":
    case "jhe":
    case "jhf": {
      const pool = new Pool(`http://127.0.0.1:${info}`, { connections: 64 });
      return async () =>
        (
          await pool.request({
            path: ORDER_PATH,
            method: "POST",
            headers: JSON_HEADERS,
            body: JSON.stringify(ORDER),
          })
        ).body.json();
    }
    case "jm":
    case "js": {
      const peer = await (await loadPeer(id === "jm" ? "moleculer" : "nest")).connectClient(
        url,
        serviceName(id),
      );
      return () => peer.order();
    }
    default:
      throw new Error(`unknown scenario ${id}`);
  }
}

async function meshFetch(): Promise<SizedCall> {
  const f = createFetch({ nc: await nats() });
  return async (size) => (await f(MESH_URL.get(size)!)).arrayBuffer();
}

async function client(): Promise<SizedCall> {
  if (id.startsWith("j")) {
    const order = await orderCall();
    // A scenario that answers something else (an error page, a wrong body) must not be measured.
    checkSummary(id, await order());
    return order;
  }
  switch (id) {
    case "a": {
      const nc = await nats(false);
      return async (size) =>
        (await nc.request(RAW_SUBJECT.get(size)!, BODY_100, { timeout: CALL_TIMEOUT })).data;
    }
    case "b": {
      const mux = new LeanMux(await nats(), CALL_TIMEOUT);
      return async (size) => (await mux.request(RAW_SUBJECT.get(size)!, BODY_100)).data;
    }
    case "c":
    case "c2":
    case "d":
      return meshFetch();
    case "u": {
      const dispatcher = new MeshDispatcher({ nc: await nats() });
      return async (size) => (await request(MESH_URL.get(size)!, { dispatcher })).body.arrayBuffer();
    }
    case "h":
    case "hx": {
      const pool = new Pool(`http://127.0.0.1:${info}`, { connections: 64 });
      return async (size) =>
        (await pool.request({ path: PATH.get(size)!, method: "GET" })).body.arrayBuffer();
    }
    case "m":
    case "n": {
      const peer = await (await loadPeer(id === "m" ? "moleculer" : "nest")).connectClient(
        url,
        serviceName(id),
      );
      return (size) => peer.call(size);
    }
    default:
      throw new Error(`unknown scenario ${id}`);
  }
}

const call = await client();
const pids = { client: process.pid, service: Number(servicePid), "nats-server": Number(natsPid) };
process.stdout.write("READY\n");
const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const job = JSON.parse(line) as Job;
  const sized = () => call(job.size);
  try {
    if (job.warmupCalls)
      await warmUpCalls(sized, job.concurrency, job.warmupCalls, job.warmupCapMs ?? 10_000);
    const t = await throughput(sized, {
      concurrency: job.concurrency,
      durationMs: job.durationMs,
      warmupMs: job.warmupMs,
      pids,
    });
    const l = job.latencyMs
      ? await latency(sized, { durationMs: job.latencyMs, warmupMs: job.latencyMs / 3 })
      : { p50: Number.NaN, p99: Number.NaN };
    const result: JobResult = { ...t, p50: l.p50, p99: l.p99 };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  }
});
lines.on("close", () => process.exit(0));
