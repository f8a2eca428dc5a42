/**
 * The limit for an HTTP front door over NATS in Node (bench/gateway.ts): node:http, and for each
 * request one lean-mux request/reply (bench/wire/mux.ts) whose reply bytes are the answer. No routing,
 * no forwarding headers, no wire protocol, no metrics or logs: what is left is what any gateway
 * on node:http and nats.js pays. Publishes of one event-loop turn leave in one socket write, as
 * natsmesh's gateway sends them (src/connect/publish-batcher.ts).
 *   node --import tsx bench/wire/lean-gateway.ts <nats-url> <port> <subject>
 * Prints `READY` once listening; exits when stdin closes.
 */
import { createServer } from "node:http";
import { connect } from "@nats-io/transport-node";
import { LeanMux } from "./mux.js";

const [url, port, subject] = process.argv.slice(2) as [string, string, string];
const nc = await connect({ servers: url, noAsyncTraces: true });
const mux = new LeanMux(nc);
const EMPTY = new Uint8Array(0);

let turn: Array<() => void> = [];
function sendTurn(): void {
  const calls = turn;
  turn = [];
  for (const call of calls) call();
}

const server = createServer((_req, res) => {
  if (turn.length === 0) setImmediate(sendTurn);
  turn.push(() => {
    mux.request(subject, EMPTY).then(
      (msg) => {
        res.setHeader("content-type", "text/plain");
        res.end(msg.data);
      },
      () => {
        res.statusCode = 504;
        res.end();
      },
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("READY\n"));
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
