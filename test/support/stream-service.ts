/**
 * A service in its own process, for tests that kill it mid-stream: `GET /drip` writes one line every
 * 50 ms until the caller leaves, and `GET /hang` prints `took` and never answers. Prints `ready` once
 * serving.
 * Usage: node --import tsx test/support/stream-service.ts <nats-url> <service>
 */
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { serve } from "../../src/server/index.js";

const [url, service] = process.argv.slice(2) as [string, string];
const nc = await connect({ servers: url });
await serve(
  (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    if (req.url === "/hang") {
      process.stdout.write("took\n");
      return;
    }
    res.setHeader("content-type", "text/plain");
    let n = 0;
    const timer = setInterval(() => res.write(`line ${++n}\n`), 50);
    res.on("close", () => clearInterval(timer));
  },
  { service, nc, logger: pino({ level: "silent" }), metrics: false },
);
process.stdout.write("ready\n");
