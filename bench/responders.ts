/**
 * The service side of each benchmark scenario, run in its own process so the load generator and
 * the responder do not share an event loop:
 *   node --import tsx bench/responders.ts <scenario> <nats-url|-> [name]
 * `name` (default `bench`) is the natsmesh service name and the raw subjects' first token, so the
 * responders of several scenarios can wait side by side on one nats-server. Prints `READY <port?>` when serving; exits when stdin closes. Every handler answers the body of
 * the size the request names (`/`, `/100`, `/10240`, `/524288`; subject `<name>.raw.<n>`; `{ size }`
 * for the peers), looked up in bench/lib/payload.ts. The `*-json` scenarios (and the peers' `order`
 * action) serve the headline call of bench/lib/order.ts: `POST /orders` (subject `<name>.order` for
 * raw NATS) with a 1 KB JSON order, parsed by the handler, answered with a small JSON object; each
 * the way a user of that framework writes it, with the framework's defaults.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "@nats-io/transport-node";
import express from "express";
import fastify, { type FastifyInstance } from "fastify";
import { Hono } from "hono";
import { pino } from "pino";
import { loadMesh } from "./lib/mesh.js";
import { ORDER_ACTION, ORDER_PATH, type Order, summarize } from "./lib/order.js";
import { ANSWER_SIZES, BODIES, BY_PATH } from "./lib/payload.js";
import { loadPeer } from "./lib/peer.js";

const [scenario, url, name = "bench"] = process.argv.slice(2) as [string, string, string?];
const silent = pino({ level: "silent" });
const { serve } = await loadMesh();

/** `http://bench/10240` → `/10240`. */
function pathOf(u: string): string {
  return u.slice(u.indexOf("/", 8));
}

/** The express app of scenarios d (over natsmesh) and hx (over direct HTTP): one route, `res.send`. */
function expressApp(): express.Express {
  const app = express();
  app.get(["/", "/:size"], (req, res) => {
    res.send(BY_PATH.get(req.path));
  });
  return app;
}

/** The node:http listener of scenarios jn (over natsmesh) and jh (direct HTTP): the body read from `req`. */
function nodeJson(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const order = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Order;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(summarize(order)));
  });
}

/** The express app of scenarios je and jhe: `express.json()` and `res.json()`. */
function expressJson(): express.Express {
  const app = express();
  app.post(ORDER_PATH, express.json(), (req, res) => {
    res.json(summarize(req.body as Order));
  });
  return app;
}

/** The fastify app of scenarios jf and jhf: its own JSON body parser and serializer. */
function fastifyJson(): FastifyInstance {
  const app = fastify();
  app.post(ORDER_PATH, async (req) => summarize(req.body as Order));
  return app;
}

/** The Hono app of scenario jo. */
function honoJson(): Hono {
  const app = new Hono();
  app.post(ORDER_PATH, async (c) => c.json(summarize(await c.req.json<Order>())));
  return app;
}

/** Listens on a loopback port; returns it. */
async function listen(server: ReturnType<typeof createServer>): Promise<string> {
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return String((server.address() as AddressInfo).port);
}

async function start(): Promise<string> {
  switch (scenario) {
    case "raw-json": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      nc.subscribe(`${name}.${ORDER_ACTION}`, {
        callback: (_e, msg) => {
          msg.respond(JSON.stringify(summarize(msg.json<Order>())));
        },
      });
      await nc.flush();
      return "";
    }
    case "mesh-fetch-json": {
      // serve()'s defaults: nothing global replaced.
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(async (req: Request) => Response.json(summarize((await req.json()) as Order)), {
        service: name,
        nc,
        logger: silent,
      });
      return "";
    }
    case "mesh-hono-json": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(honoJson(), { service: name, nc, logger: silent });
      return "";
    }
    case "mesh-node-json": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(nodeJson, { service: name, nc, logger: silent });
      return "";
    }
    case "mesh-express-json": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(expressJson(), { service: name, nc, logger: silent });
      return "";
    }
    case "mesh-fastify-json": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(fastifyJson(), { service: name, nc, logger: silent });
      return "";
    }
    case "http-json":
      return listen(createServer(nodeJson));
    case "http-express-json":
      return listen(createServer(expressJson()));
    case "http-fastify-json": {
      const app = fastifyJson();
      await app.listen({ port: 0, host: "127.0.0.1" });
      return String((app.server.address() as AddressInfo).port);
    }
    case "raw":
    case "raw-queue": {
      // raw-queue: in a queue group, so that several share the requests (the gateway bench's limit).
      const nc = await connect({ servers: url, noAsyncTraces: true });
      for (const n of ANSWER_SIZES) {
        const body = BODIES.get(n)!.bytes;
        nc.subscribe(`${name}.raw.${n}`, {
          ...(scenario === "raw-queue" && { queue: name }),
          callback: (_e, msg) => {
            msg.respond(body);
          },
        });
      }
      await nc.flush();
      return "";
    }
    case "mesh-fetch": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      // With the light Response, as the figures in BENCHMARKS.md ("Measured reasons for fast paths") were taken.
      await serve((req: Request) => new Response(BY_PATH.get(pathOf(req.url))), {
        service: name,
        nc,
        logger: silent,
        overrideGlobalResponse: true,
      });
      return "";
    }
    case "mesh-node": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve((req, res) => res.end(BY_PATH.get(req.url!)), {
        service: name,
        nc,
        logger: silent,
        kind: "node",
      });
      return "";
    }
    case "mesh-express": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(expressApp(), { service: name, nc, logger: silent });
      return "";
    }
    case "http":
    case "http-express": {
      const server = createServer(
        scenario === "http" ? (req, res) => res.end(BY_PATH.get(req.url!)) : expressApp(),
      );
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return String((server.address() as AddressInfo).port);
    }
    case "moleculer":
    case "nest":
      await (await loadPeer(scenario)).serve(url, name);
      return "";
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

const info = await start();
process.stdout.write(`READY ${info}\n`);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
