/** Small helpers shared by test files. */
import { createServer } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll } from "vitest";
import { NatsServer, type ServerConfig } from "./nats-server.js";

/** A loopback port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => srv.once("listening", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

type Stoppable = { stop(): Promise<unknown> } | { close(): Promise<unknown> };

/**
 * Registers an `afterEach` that stops (or closes), in reverse order, everything passed to the
 * returned `track` during a test — also when the test fails.
 */
export function stopAfterEach(): <T extends Stoppable>(s: T) => T {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  });
  return (s) => {
    cleanups.push(() => ("stop" in s ? s.stop() : s.close()));
    return s;
  };
}

/** What {@link natsFixture} returns: getters valid from the describe block's first `beforeAll` on. */
export interface NatsFixture {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
}

/**
 * Registers a `beforeAll` that starts a nats-server (with `config`) and connects to it, and an `afterAll`
 * that closes the connection and stops the server. Call it first in a describe block, so that its
 * `afterAll` runs after the block's own (vitest runs after-hooks in reverse order).
 */
export function natsFixture(config: ServerConfig = {}): NatsFixture {
  let server: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await NatsServer.start(config);
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("natsFixture: used before its beforeAll ran");
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get nc() {
      return started(nc);
    },
  };
}
