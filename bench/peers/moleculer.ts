/**
 * Moleculer 0.14 with its NATS transporter (nats 2.x), default settings apart from the logger: a
 * service broker with one action `bench.get` answering the text of the requested size, and a client
 * broker calling it. The serializer is Moleculer's default (JSON).
 */
import moleculer from "moleculer";
import { BODIES } from "../lib/payload.js";
import type { PeerClient } from "../lib/peer.js";

const { ServiceBroker } = moleculer;

function broker(url: string, nodeID: string): moleculer.ServiceBroker {
  return new ServiceBroker({
    nodeID: `${nodeID}-${process.pid}`,
    transporter: { type: "NATS", options: { url } },
    logger: false,
  });
}

export async function serve(url: string): Promise<void> {
  const b = broker(url, "service");
  b.createService({
    name: "bench",
    actions: {
      get(ctx: moleculer.Context<{ size: number }>): string {
        return BODIES.get(ctx.params.size)!.text;
      },
    },
  });
  await b.start();
}

export async function connectClient(url: string): Promise<PeerClient> {
  const b = broker(url, "client");
  await b.start();
  await b.waitForServices("bench", 10_000);
  return {
    call: (size) => b.call("bench.get", { size }),
    close: () => b.stop(),
  };
}
