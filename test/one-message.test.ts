/**
 * A fast call stays one message each way (PROTOCOL.md §8.4): the default client asks for heartbeats,
 * and an instance acknowledges at the end of its event-loop turn unless the answer left within it.
 * A handler that answers within the turn — a node:http listener reading its body through `data`
 * events, express with `express.json()`, fastify, a Fetch handler reading `req.json()` — must never
 * cost the acknowledgement frame: at one call at a time that frame is an extra message through
 * nats-server and an extra wake-up of the client, so the c=1 latency depends on it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Msg } from "@nats-io/transport-node";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent, stopAfterEach } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const ORDER = { id: 7, items: [1, 2, 3] };
const summary = (o: typeof ORDER) => ({ id: o.id, items: o.items.length });

/** The JSON call, served the ways users write it. */
const handlers = {
  "a node:http listener": () => (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(summary(JSON.parse(Buffer.concat(chunks).toString()))));
    });
  },
  "an express app": () => {
    const app = express();
    app.post("/orders", express.json(), (req, res) => {
      res.json(summary(req.body));
    });
    return app;
  },
  "a fastify app": () => {
    const app = Fastify();
    app.post("/orders", async (req) => summary(req.body as typeof ORDER));
    return app;
  },
  "a Fetch handler": () => async (req: Request) => Response.json(summary(await req.json())),
};

let nats: NatsFixture;
let fetch: MeshFetch;
const stop = stopAfterEach();

beforeAll(async () => {
  nats = await natsFixture();
  fetch = createFetch({ nc: nats.nc });
});
afterAll(async () => {
  await fetch?.close();
  await nats?.[Symbol.asyncDispose]();
});

describe("one message each way", () => {
  for (const [name, make] of Object.entries(handlers)) {
    it(`one message each way - a JSON POST to ${name}, one call at a time, is a request and an answer: no acknowledgement`, async () => {
      const service = `once-${name.replace(/[^a-z]/gi, "").toLowerCase()}`;
      // No loop-lag watch: after a lag an instance acknowledges every request (§8.4), not what is tested here.
      stop(
        await serve(make() as never, { service, nc: await nats.connect(), logger: silent, lagThreshold: 0 }),
      );
      // Every message through nats-server, by kind (PROTOCOL.md §2): 1 request, 2 answer, 5 credit.
      const kinds = new Map<number, number>();
      const spy = await nats.connect();
      spy.subscribe(">", {
        callback: (_err: Error | null, m: Msg) => {
          if (m.data[0] !== 0x4e) return;
          kinds.set(m.data[3]!, (kinds.get(m.data[3]!) ?? 0) + 1);
        },
      });
      await spy.flush();
      const calls = 50;
      for (let i = 0; i < calls; i++) {
        const res = await fetch(`http://${service}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(ORDER),
        });
        expect(await res.json()).toEqual({ id: 7, items: 3 });
      }
      await check(() => kinds.get(2) === calls, 5000, { name: "the spy saw every answer" });
      await spy.flush();
      expect(Object.fromEntries(kinds)).toEqual({ 1: calls, 2: calls });
    });
  }
});
