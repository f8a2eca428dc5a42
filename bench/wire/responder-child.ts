/**
 * Responder in its own Node process (run.ts --responder child). Driven over the fork() IPC channel.
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { findVariant } from "./variants.js";

export type ToChild =
  | { type: "start"; variant: string; servers: string; subject: string }
  | { type: "cpu" }
  | { type: "stop" }
  | { type: "exit" };
export type FromChild =
  | { type: "ready" }
  | { type: "cpu"; usage: NodeJS.CpuUsage }
  | { type: "stopped" }
  | { type: "error"; message: string };

function send(m: FromChild): void {
  process.send?.(m);
}

let nc: NatsConnection | null = null;

async function handle(m: ToChild): Promise<void> {
  switch (m.type) {
    case "start": {
      const v = findVariant(m.variant);
      nc = await connect({ servers: m.servers, noAsyncTraces: !v.asyncTraces });
      v.respond(nc, m.subject);
      await nc.flush();
      send({ type: "ready" });
      return;
    }
    case "cpu":
      send({ type: "cpu", usage: process.cpuUsage() });
      return;
    case "stop":
      await nc?.close();
      nc = null;
      send({ type: "stopped" });
      return;
    case "exit":
      process.exit(0);
  }
}

process.on("message", (m: ToChild) => {
  handle(m).catch((e: unknown) => send({ type: "error", message: String(e) }));
});
process.on("disconnect", () => process.exit(0));
