/**
 * In-process micro-bench of the Fetch adapter's body paths, no NATS: a wire request through
 * `fetchAdapter` to a handler and back to a wire answer (a streamed answer's body read whole, as the
 * responder would). Compares a handler's body read on the fast path (`req.json()`) with the
 * platform's read of the same Request (`Request.prototype.json.call(req)`, the path every read took
 * before), and the answer kinds (a string, `Response.json()`, natsmesh's opt-in light Response and its
 * `LightResponse.json()`). Figures are CPU µs per call (process.cpuUsage), best of the rounds.
 *   npx tsx bench/fast-body.ts [--ms=1500] [--rounds=3]
 * Per Node version: PATH=$HOME/.cache/natsmesh-node/24.22.3/bin:$PATH npx --no-install tsx bench/fast-body.ts
 */
import type { WireRequest, WireResponse } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { LightResponse } from "../src/server/adapters/light-response.js";
import type { FetchHandler } from "../src/server/adapters/types.js";
import { ORDER, type Order } from "./lib/order.js";

const MS = Number(process.argv.find((a) => a.startsWith("--ms="))?.slice(5) ?? 1500);
const JSON_BODY = Buffer.from(JSON.stringify(ORDER));
const post = (): WireRequest => ({
  method: "POST",
  path: "/horses",
  headers: ["content-type", "application/json", "accept", "*/*"],
  body: JSON_BODY,
});
const get = (): WireRequest => ({
  method: "GET",
  path: "/horses",
  headers: ["accept", "*/*"],
  body: new Uint8Array(0),
});

/** The answer's bytes, as the responder gets them (a stream read whole). */
async function drain(res: WireResponse): Promise<number> {
  if (res.stream === undefined) return res.body.byteLength;
  let n = 0;
  const reader = res.stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.byteLength;
  }
}

const ctx = { service: "svc", onError: (err: unknown) => console.error(err) };
const ROUNDS = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
const best = new Map<string, number>();

async function run(name: string, handler: FetchHandler, request: () => WireRequest): Promise<void> {
  const wire = fetchAdapter(handler);
  const once = async () => {
    const control = { signal: new AbortController().signal, onAbort: () => undefined };
    await drain(await wire(request(), ctx, control));
  };
  for (let i = 0; i < 2000; i++) await once();
  let n = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  while (performance.now() - start < MS) {
    for (let i = 0; i < 100; i++) await once();
    n += 100;
  }
  // CPU time (all of the process's threads, GC included), not wall time: robust on a shared machine.
  const used = process.cpuUsage(cpu);
  const us = (used.user + used.system) / n;
  best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, us));
}

const answer = (n: number) => Response.json({ ok: true, n });
const count = async (req: Request) => ((await req.json()) as Order).items.length;
const jsonInit = { headers: { "content-type": "application/json" } };
for (let round = 0; round < ROUNDS; round++) {
  await run("GET, no body read, new Response(string)", () => new Response('{"ok":true}'), get);
  await run(
    "POST 1 KB JSON, req.json() [fast], Response.json()",
    async (req) => answer(await count(req)),
    post,
  );
  await run(
    "POST 1 KB JSON, platform read [before], Response.json()",
    async (req) => answer(((await Request.prototype.json.call(req)) as Order).items.length),
    post,
  );
  await run(
    "POST 1 KB JSON, req.json() [fast], new Response(string)",
    async (req) => new Response(JSON.stringify({ ok: true, n: await count(req) }), jsonInit),
    post,
  );
  await run(
    "POST 1 KB JSON, req.json() [fast], natsmesh LightResponse",
    async (req) =>
      new LightResponse(JSON.stringify({ ok: true, n: await count(req) }), jsonInit) as unknown as Response,
    post,
  );
  await run(
    "POST 1 KB JSON, req.json() [fast], LightResponse.json()",
    async (req) => LightResponse.json({ ok: true, n: await count(req) }),
    post,
  );
}
console.log(
  `Node ${process.versions.node} (undici ${process.versions.undici}), ${MS} ms per row, best of ${ROUNDS} rounds, in process`,
);
for (const [name, us] of best) {
  console.log(`${name.padEnd(58)} ${us.toFixed(2).padStart(7)} CPU µs/call`);
}
