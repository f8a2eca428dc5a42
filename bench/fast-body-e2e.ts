/**
 * End to end, one process: `createFetch` → a local nats-server → `serve()` of a Fetch handler and of a
 * Hono app, each a JSON POST of 1 KB (8 records) that the handler parses and answers with a small JSON
 * object, and a GET that reads no body; c=64 for a few seconds each, rounds interleaved, best round
 * reported. Client and instance share the process (and the machine's 2 cores with nats-server), so
 * the figures compare paths, not products.
 *   npx tsx bench/fast-body-e2e.ts [--seconds=3] [--rounds=3]
 */
import { Hono } from "hono";
import { pino } from "pino";
import { startLocalServer } from "../src/dev/index.js";
import { createFetch, serve } from "../src/index.js";
import { ORDER, type Order } from "./lib/order.js";

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const SECONDS = arg("seconds", 3);
const ROUNDS = arg("rounds", 3);
const C = 64;
const BODY = JSON.stringify(ORDER);

await using nats = await startLocalServer();
const logger = pino({ level: "silent" });
const fetchSvc = await serve(
  async (req: Request) => {
    if (req.method === "GET")
      return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
    const order = (await req.json()) as Order;
    return Response.json({ ok: true, n: order.items.length });
  },
  { service: "fetchjson", connection: { servers: nats.url }, logger },
);
const app = new Hono()
  .post("/", async (c) => c.json({ ok: true, n: ((await c.req.json()) as Order).items.length }))
  .get("/", (c) => c.json({ ok: true }));
const honoSvc = await serve(app, { service: "honojson", connection: { servers: nats.url }, logger });
const client = createFetch({ connection: { servers: nats.url } });

async function load(url: string, init: RequestInit): Promise<number> {
  let count = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (performance.now() < end) {
        const res = await client(url, init);
        await res.json();
        count++;
      }
    }),
  );
  return count / SECONDS;
}

const post: RequestInit = { method: "POST", headers: { "content-type": "application/json" }, body: BODY };
const rows: [string, string, RequestInit][] = [
  ["Fetch handler, GET, no body read", "http://fetchjson/", {}],
  ["Fetch handler, POST 1 KB JSON, req.json() → Response.json()", "http://fetchjson/", post],
  ["Hono, POST 1 KB JSON, c.req.json() → c.json()", "http://honojson/", post],
];
const best = new Map<string, number>();
await load("http://fetchjson/", post); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, url, init] of rows) best.set(name, Math.max(best.get(name) ?? 0, await load(url, init)));
}
console.log(
  `Node ${process.versions.node}, c=${C}, ${SECONDS} s × ${ROUNDS} rounds, best round, one process`,
);
for (const [name] of rows)
  console.log(`${name.padEnd(62)} ${(best.get(name)! / 1000).toFixed(1).padStart(6)}k req/s`);
await client.close();
await honoSvc.stop();
await fetchSvc.stop();
