/**
 * CPU per request of the headline call (POST 1 KB JSON, the handler parses it and answers JSON) over
 * a real nats-server, service and client in separate processes, measured with process.cpuUsage over
 * a fixed number of requests (robust on a shared machine, unlike req/s). Variants of the service's
 * handler, run alternately, each round in a fresh service process:
 *   platform  `Response.json(summarize(await req.json()))`, the global Response (serve()'s default)
 *   light     the same with `import { LightResponse as Response } from "natsmesh"` (no global replaced)
 *   hono      a Hono app: `c.json(summarize(await c.req.json()))`
 *   npx tsx bench/fetch-cpu.ts [--requests=20000] [--rounds=3] [--variants=platform,light,hono]
 * Per Node version: PATH=$HOME/.cache/natsmesh-node/24.22.3/bin:$PATH npx --no-install tsx bench/fetch-cpu.ts
 * Reports the median over rounds of CPU µs per request, service and client process apart.
 */

import { loadavg } from "node:os";
import { createInterface } from "node:readline";
import { Hono } from "hono";
import { startLocalServer } from "../src/dev/index.js";
import { connect, createFetch, LightResponse, serve } from "../src/index.js";
import { ORDER, ORDER_PATH, type Order, summarize } from "./lib/order.js";
import { ask, startBench } from "./lib/spawn.js";

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const silent = { level: "silent" } as const;

if (arg("serve", "") !== "") {
  // The service process: serve one variant, answer "cpu" with its CPU time since "mark".
  const variant = arg("serve", "");
  const nc = await connect({ servers: arg("url", ""), noAsyncTraces: true });
  const { pino } = await import("pino");
  const logger = pino(silent);
  const handlers: Record<string, Parameters<typeof serve>[0]> = {
    platform: async (req: Request) => Response.json(summarize((await req.json()) as Order)),
    light: async (req: Request) => LightResponse.json(summarize((await req.json()) as Order)),
    hono: new Hono().post(ORDER_PATH, async (c) => c.json(summarize(await c.req.json<Order>()))),
  };
  await serve(handlers[variant]!, { service: "cpu", nc, logger });
  let mark = process.cpuUsage();
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const { cmd } = JSON.parse(line) as { cmd: string };
    if (cmd === "mark") mark = process.cpuUsage();
    const used = process.cpuUsage(mark);
    process.stdout.write(`${JSON.stringify({ cpu: used.user + used.system })}\n`);
  });
  lines.on("close", () => process.exit(0));
  process.stdout.write("READY\n");
} else {
  const REQUESTS = Number(arg("requests", "20000"));
  const ROUNDS = Number(arg("rounds", "3"));
  const VARIANTS = arg("variants", "platform,light,hono").split(",");
  const C = 64;
  await using nats = await startLocalServer();
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const fetch = createFetch({ nc });
  const url = `http://cpu${ORDER_PATH}`;
  const init = { method: "POST", headers: { "content-type": "application/json" } };
  const results = new Map<string, { service: number[]; client: number[] }>();
  async function run(n: number): Promise<void> {
    let left = n;
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (left-- > 0) {
          const res = await fetch(url, { ...init, body: JSON.stringify(ORDER) });
          if (res.status !== 200) throw new Error(`status ${res.status}`);
          await res.json();
        }
      }),
    );
  }
  const loads: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of VARIANTS) {
      const child = await startBench("bench/fetch-cpu.ts", [`--serve=${variant}`, `--url=${nats.url}`]);
      try {
        await run(2000); // warm-up: JIT, pools
        await ask(child, { cmd: "mark" });
        const cpu = process.cpuUsage();
        loads.push(loadavg()[0]!);
        await run(REQUESTS);
        const mine = process.cpuUsage(cpu);
        const theirs = (await ask<{ cpu: number }>(child, { cmd: "cpu" })).cpu;
        const r = results.get(variant) ?? { service: [], client: [] };
        r.service.push(theirs / REQUESTS);
        r.client.push((mine.user + mine.system) / REQUESTS);
        results.set(variant, r);
      } finally {
        await child.stop();
      }
    }
  }
  await fetch.close();
  await nc.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `Node ${process.versions.node}: ${REQUESTS} requests per round at c=${C}, median of ${ROUNDS} rounds, load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
  );
  for (const [variant, r] of results) {
    console.log(
      `${variant.padEnd(9)} service ${median(r.service).toFixed(1).padStart(6)} CPU µs/req  client ${median(r.client).toFixed(1).padStart(6)} CPU µs/req  (service rounds: ${r.service.map((x) => x.toFixed(1)).join(", ")})`,
    );
  }
}
