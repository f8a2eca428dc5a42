/**
 * A gateway worker process, forked by `createGatewayCluster` (node:cluster): it says hello, gets the
 * configuration the primary checked, serves it with its own NATS connection on the port node:cluster
 * shares, answers the primary's readiness and metrics questions, and on `stop` (or its own SIGTERM or
 * SIGINT) closes gracefully and exits 0. Its access log goes to stdout, which it shares with the
 * primary and the other workers (whole lines per write, see front-door/stdout-log.ts). Not imported by anything:
 * it is the file node:cluster runs.
 *
 * @module
 */
import cluster from "node:cluster";
import { createLogger } from "../../log/index.js";
import { bufferedStdout } from "../front-door/stdout-log.js";
import { createGatewayFrom, type Gateway } from "../gateway.js";
import {
  type AskMessage,
  isGatewayMessage,
  type PrimaryMessage,
  type StartMessage,
  toWireError,
  type WorkerMessage,
} from "./cluster-messages.js";

const out = bufferedStdout();
let gateway: Gateway | undefined;
let stopping: Promise<never> | undefined;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });
}

async function start(message: StartMessage): Promise<void> {
  if (gateway || stopping) return;
  const env = message.options.connection?.env ?? process.env;
  const logger = createLogger({ name: "natsmesh-gateway", destination: out.destination, env });
  try {
    gateway = createGatewayFrom({ ...message.options, logger }, message.from, false);
    const { url, address } = await gateway.listen();
    if (!stopping) await send({ natsmeshGateway: "listening", url, address });
  } catch (err) {
    await send({ natsmeshGateway: "failed", error: toWireError(err) });
    out.flush();
    process.exit(1);
  }
}

function stop(): Promise<never> {
  stopping ??= (async () => {
    try {
      await gateway?.close();
    } finally {
      out.flush();
    }
    process.exit(0);
  })();
  return stopping;
}

async function answer(message: AskMessage): Promise<void> {
  if (message.what === "ready") {
    const notReady = gateway ? gateway.notReady : "starting";
    await send({ natsmeshGateway: "answer", id: message.id, notReady: notReady ?? null });
  } else {
    const metrics = gateway ? await gateway.metrics.getMetricsAsJSON() : [];
    await send({ natsmeshGateway: "answer", id: message.id, metrics });
  }
}

if (cluster.isWorker) {
  process.on("message", (message: unknown) => {
    if (!isGatewayMessage<PrimaryMessage>(message)) return;
    if (message.natsmeshGateway === "start") void start(message);
    else if (message.natsmeshGateway === "stop") void stop();
    else if (message.natsmeshGateway === "ask") void answer(message);
  });
  // The primary stops every worker on SIGTERM/SIGINT; a signal sent to the whole process group
  // (Ctrl-C, systemd's control-group kill) reaches the workers too, and is the same graceful stop.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stop());
  void send({ natsmeshGateway: "hello" });
}
