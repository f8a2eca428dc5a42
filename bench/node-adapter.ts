/**
 * CPU time per request of the Node adapter alone (src/server/adapters/node.ts), in process, no NATS:
 * the headline's node:http listener (body gathered from `data` events, `JSON.parse`, `res.end(JSON)`)
 * driven with the headline's 1 KB order, 16 requests in flight, `process.cpuUsage()` over rounds of
 * 20,000 requests. Given two builds (directories holding tsc's output of src/, e.g. `dist` from
 * `npm run build` and the same of another branch), their rounds alternate in one process, so the
 * shared machine's load hits both alike; the figure is the median per build and their ratio.
 *   npx tsx bench/node-adapter.ts dist                    (one build)
 *   npx tsx bench/node-adapter.ts /tmp/main/dist dist     (A/B: main's build, then this branch's)
 *   --rounds=21 --concurrency=16
 * The handler's own JSON work is part of the figure, as in the headline; only the adapter changes.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ORDER, summarize } from "./lib/order.js";

type NodeAdapter = typeof import("../src/server/adapters/node.js").nodeAdapter;
type WireHandler = ReturnType<NodeAdapter>;

const flag = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const rounds = flag("rounds", 21);
const concurrency = flag("concurrency", 16);
const REQUESTS = 20_000;
const builds = process.argv.slice(2).filter((a) => !a.startsWith("--"));
if (builds.length === 0 || builds.length > 2) {
  throw new Error("usage: npx tsx bench/node-adapter.ts <build dir> [<build dir B>] [--rounds=21]");
}

const body = Buffer.from(JSON.stringify(ORDER));
const ctx = {
  service: "bench",
  onError: (err: unknown) => {
    throw err;
  },
};

/** The listener of bench/responders.ts's `mesh-node-json`. */
function listener(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const order = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof ORDER;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(summarize(order)));
  });
}

async function load(dir: string): Promise<WireHandler> {
  const href = pathToFileURL(resolve(dir, "server/adapters/node.js")).href;
  const { nodeAdapter } = (await import(href)) as { nodeAdapter: NodeAdapter };
  return nodeAdapter(listener);
}

/** CPU µs per request over one round. */
async function round(wire: WireHandler): Promise<number> {
  let left = REQUESTS;
  const worker = async () => {
    while (left-- > 0) {
      const res = await wire(
        { method: "POST", path: "/orders", headers: ["content-type", "application/json"], body },
        ctx,
      );
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / REQUESTS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const wires = await Promise.all(builds.map(load));
// Warm-up: two rounds each, discarded.
for (let i = 0; i < 2; i++) for (const w of wires) await round(w);
const samples: number[][] = wires.map(() => []);
for (let r = 0; r < rounds; r++) {
  // Alternate which build goes first, so neither always follows the other.
  const order = r % 2 === 0 ? wires.map((_, i) => i) : wires.map((_, i) => wires.length - 1 - i);
  for (const i of order) samples[i]!.push(await round(wires[i]!));
}
for (const [i, dir] of builds.entries()) {
  const s = samples[i]!;
  process.stdout.write(
    `${dir}: median ${median(s).toFixed(2)} µs CPU/request (min ${Math.min(...s).toFixed(2)}, max ${Math.max(...s).toFixed(2)}, ${rounds} rounds of ${REQUESTS.toLocaleString("en-US")})\n`,
  );
}
if (wires.length === 2) {
  const ratios = samples[1]!.map((b, r) => b / samples[0]![r]!);
  process.stdout.write(
    `B ÷ A: ${(median(samples[1]!) / median(samples[0]!)).toFixed(3)} (median of per-round ratios ${median(ratios).toFixed(3)}) · node ${process.version} · load average ${(await import("node:os")).loadavg()[0]!.toFixed(2)}\n`,
  );
}
