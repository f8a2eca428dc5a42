/**
 * NestJS microservices with the NATS transport (@nats-io/transport-node), default settings apart
 * from the logger: a controller with one `@MessagePattern("bench.get")` handler answering the text of
 * the requested size, and a `ClientProxy` sending to it. The decorators are applied as functions, so
 * no decorator compiler options are needed.
 */
import "reflect-metadata";
import { Controller, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ClientProxyFactory, MessagePattern, type NatsOptions, Transport } from "@nestjs/microservices";
import { firstValueFrom } from "rxjs";
import { BODIES } from "../lib/payload.js";
import type { PeerClient } from "../lib/peer.js";

class BenchController {
  get(data: { size: number }): string {
    return BODIES.get(data.size)!.text;
  }
}
Controller()(BenchController);
MessagePattern("bench.get")(
  BenchController.prototype,
  "get",
  Object.getOwnPropertyDescriptor(BenchController.prototype, "get")!,
);

class BenchModule {}
Module({ controllers: [BenchController] })(BenchModule);

export async function serve(url: string): Promise<void> {
  const app = await NestFactory.createMicroservice<NatsOptions>(BenchModule, {
    transport: Transport.NATS,
    options: { servers: [url] },
    logger: false,
  });
  await app.listen();
}

export async function connectClient(url: string): Promise<PeerClient> {
  const client = ClientProxyFactory.create({ transport: Transport.NATS, options: { servers: [url] } });
  await client.connect();
  return {
    call: (size) => firstValueFrom(client.send<string>("bench.get", { size })),
    close: async () => {
      await client.close();
    },
  };
}
