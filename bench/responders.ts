/**
 * The service side of each benchmark scenario, run in its own process so the load generator and
 * the responder do not share an event loop:
 *   node --import tsx bench/responders.ts <scenario> <nats-url|->
 * Prints `READY <port?>` when serving; exits when stdin closes.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "@nats-io/transport-node";
import express from "express";
import { pino } from "pino";
import { serve } from "../src/index.js";
import { BODY_100, TEXT_100 } from "./lib/payload.js";

const [scenario, url] = process.argv.slice(2);
const silent = pino({ level: "silent" });

async function start(): Promise<string> {
  switch (scenario) {
    case "raw": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      nc.subscribe("bench.raw", {
        callback: (_e, msg) => {
          msg.respond(BODY_100);
        },
      });
      await nc.flush();
      return "";
    }
    case "mesh-fetch": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve(() => new Response(TEXT_100), { service: "bench", nc, logger: silent });
      return "";
    }
    case "mesh-node": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      await serve((_req, res) => res.end(TEXT_100), { service: "bench", nc, logger: silent, kind: "node" });
      return "";
    }
    case "mesh-express": {
      const nc = await connect({ servers: url, noAsyncTraces: true });
      const app = express();
      app.get("/", (_req, res) => {
        res.send(TEXT_100);
      });
      await serve(app, { service: "bench", nc, logger: silent });
      return "";
    }
    case "http": {
      const server = createServer((_req, res) => res.end(TEXT_100));
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return String((server.address() as AddressInfo).port);
    }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

const info = await start();
process.stdout.write(`READY ${info}\n`);
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
