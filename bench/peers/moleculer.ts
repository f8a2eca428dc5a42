/**
 * Moleculer 0.14 with its NATS transporter (nats 2.x), default settings apart from the logger: a
 * service broker with a service of the given name and two actions — `get` answering the text of the
 * requested size, `order` the summary of the order it is given as params (bench/lib/order.ts) — and a
 * client broker calling them. The serializer is Moleculer's default (JSON).
 */
import moleculer from "moleculer";
import { ORDER, type Order, summarize } from "../lib/order.js";
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

export async function serve(url: string, name: string): Promise<void> {
  const b = broker(url, "service");
  b.createService({
    name,
    actions: {
      get(ctx: moleculer.Context<{ size: number }>): string {
        return BODIES.get(ctx.params.size)!.text;
      },
      order(ctx: moleculer.Context<Order>) {
        return summarize(ctx.params);
      },
    },
  });
  await b.start();
}

export async function connectClient(url: string, name: string): Promise<PeerClient> {
  const b = broker(url, "client");
  await b.start();
  await b.waitForServices(name, 10_000);
  const get = `${name}.get`;
  const order = `${name}.order`;
  return {
    call: (size) => b.call(get, { size }),
    order: () => b.call(order, ORDER),
    close: () => b.stop(),
  };
}
