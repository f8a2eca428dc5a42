/**
 * NestJS microservices with the NATS transport (@nats-io/transport-node), default settings apart
 * from the logger: a controller with two message patterns under the given name — `<name>.get`
 * answering the text of the requested size, `<name>.order` the summary of the order it is given
 * (bench/lib/order.ts) — and a `ClientProxy` sending to them. The decorators are applied as
 * functions, so no decorator compiler options are needed.
 */
import "reflect-metadata";
import { Controller, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ClientProxyFactory, MessagePattern, type NatsOptions, Transport } from "@nestjs/microservices";
import { firstValueFrom } from "rxjs";
import { ORDER, type Order, type OrderSummary, summarize } from "../lib/order.js";
import { BODIES } from "../lib/payload.js";
import type { PeerClient } from "../lib/peer.js";

/** The module of a controller whose patterns start with `name`. */
function benchModule(name: string): new () => object {
  class BenchController {
    get(data: { size: number }): string {
      return BODIES.get(data.size)!.text;
    }
    order(data: Order): OrderSummary {
      return summarize(data);
    }
  }
  Controller()(BenchController);
  for (const method of ["get", "order"] as const) {
    MessagePattern(`${name}.${method}`)(
      BenchController.prototype,
      method,
      Object.getOwnPropertyDescriptor(BenchController.prototype, method)!,
    );
  }
  class BenchModule {}
  Module({ controllers: [BenchController] })(BenchModule);
  return BenchModule;
}

export async function serve(url: string, name: string): Promise<void> {
  const app = await NestFactory.createMicroservice<NatsOptions>(benchModule(name), {
    transport: Transport.NATS,
    options: { servers: [url] },
    logger: false,
  });
  await app.listen();
}

export async function connectClient(url: string, name: string): Promise<PeerClient> {
  const client = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [url] } });
  await client.connect();
  const get = `${name}.get`;
  const order = `${name}.order`;
  return {
    call: (size) => firstValueFrom(client.send<string>(get, { size })),
    order: () => firstValueFrom(client.send<OrderSummary>(order, ORDER)),
    close: async () => {
      await client.close();
    },
  };
}
