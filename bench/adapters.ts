/**
 * The server adapters alone, without NATS: what it costs to drive a handler from a wire request.
 * Compares natsmesh's Node adapter with light-my-request (the library DESIGN.md proposed) on the
 * same express app and node:http listener, and the Fetch adapter on a plain handler and Hono.
 *   npx tsx bench/adapters.ts
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";
import { Hono } from "hono";
import { inject } from "light-my-request";
import type { WireRequest } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { installLightResponse } from "../src/server/adapters/light-response.js";
import { nodeAdapter } from "../src/server/adapters/node.js";
import { median } from "./lib/measure.js";
import { TEXT_100 } from "./lib/payload.js";

const req: WireRequest = {
  method: "GET",
  path: "/?q=london",
  headers: ["accept", "*/*", "x-request-id", "abc"],
  body: new Uint8Array(0),
};
const ctx = { service: "bench", onError() {} };

async function perOp(fn: () => Promise<unknown>): Promise<number> {
  const reps: number[] = [];
  for (let r = 0; r < 3; r++) {
    for (let i = 0; i < 5000; i++) await fn();
    const n = 30_000;
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn();
    reps.push(((performance.now() - t) * 1000) / n);
  }
  return median(reps);
}

const listener = (_q: IncomingMessage, s: ServerResponse) => s.end(TEXT_100);
const app = express();
app.get("/", (_q, s) => {
  s.send(TEXT_100);
});
const hono = new Hono().get("/", (c) => c.text(TEXT_100));

const viaLmr = (handler: (q: IncomingMessage, s: ServerResponse) => void) => async () => {
  const res = await inject(handler, {
    method: "GET",
    url: req.path,
    headers: { accept: "*/*", "x-request-id": "abc" },
  });
  return res.rawPayload;
};

// Each adapter is made once, as serve() makes it (the Node adapter keeps its sockets between requests).
const nodeListener = nodeAdapter(listener);
const nodeExpress = nodeAdapter(app);
const rows: Array<[string, number]> = [
  ["node:http listener — natsmesh nodeAdapter", await perOp(() => nodeListener(req, ctx))],
  ["node:http listener — light-my-request inject", await perOp(viaLmr(listener))],
  ["express app — natsmesh nodeAdapter", await perOp(() => nodeExpress(req, ctx))],
  ["express app — light-my-request inject", await perOp(viaLmr(app))],
];
// serve() gives Fetch handlers the light global Response (adapters/light-response.ts) when asked to
// (overrideGlobalResponse: true): measured both ways.
const plainFetch = fetchAdapter(() => new Response(TEXT_100));
const honoFetch = fetchAdapter((r) => hono.fetch(r));
rows.push(
  ["Fetch handler — natsmesh fetchAdapter, platform Response", await perOp(() => plainFetch(req, ctx))],
  ["Hono app.fetch — natsmesh fetchAdapter, platform Response", await perOp(() => honoFetch(req, ctx))],
);
installLightResponse();
rows.push(
  [
    "Fetch handler — natsmesh fetchAdapter, light Response (overrideGlobalResponse: true)",
    await perOp(() => plainFetch(req, ctx)),
  ],
  [
    "Hono app.fetch — natsmesh fetchAdapter, light Response (overrideGlobalResponse: true)",
    await perOp(() => honoFetch(req, ctx)),
  ],
);
console.log("| adapter (GET, 100-byte answer, no NATS) | µs per request |\n|---|---:|");
for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`);
