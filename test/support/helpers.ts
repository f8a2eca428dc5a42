/** Small helpers shared by test files. */
import { createServer } from "node:net";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { type Logger, pino } from "pino";
import { afterEach } from "vitest";
import {
  cluster,
  type NatsCluster,
  NatsServer,
  type ServerConfig,
  type StartOptions,
  type SuperClusterOptions,
  superCluster,
} from "./nats-server.js";

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

/** A silent pino logger for everything a test starts. */
export const silentLogger: Logger = pino({ level: "silent" });

/** What every fixture has: a connection, a silent logger, more connections on demand, one cleanup. */
export interface ConnectionsFixture extends AsyncDisposable {
  /** A connection to what the fixture started (every node of a cluster). */
  readonly nc: NatsConnection;
  /** {@link silentLogger}. */
  readonly logger: Logger;
  /**
   * Opens another connection, by default to what the fixture started (`opts.servers` names others);
   * the fixture's `[Symbol.asyncDispose]` closes it.
   */
  connect(opts?: NodeConnectionOptions): Promise<NatsConnection>;
}

/** A nats-server with a connection to it: see {@link natsFixture}. */
export interface NatsFixture extends ConnectionsFixture {
  readonly server: NatsServer;
}

/** A cluster with a connection to its nodes: see {@link clusterFixture}. */
export interface ClusterFixture extends ConnectionsFixture {
  readonly cluster: NatsCluster;
  /** The cluster's nodes, in start order. */
  readonly servers: NatsServer[];
}

/** Clusters joined by gateways, with a connection to their nodes: see {@link superClusterFixture}. */
export interface SuperClusterFixture extends ConnectionsFixture {
  readonly clusters: Record<string, NatsCluster>;
  /** Every node of every cluster. */
  readonly servers: NatsServer[];
}

/**
 * Connects to `started` and returns the connection, a `connect()` for more, and an
 * `[Symbol.asyncDispose]` that closes every connection it opened (last first) and then stops `started`.
 */
async function withConnections(
  started: { readonly servers: NatsServer[]; stop(): Promise<unknown> },
  opts: NodeConnectionOptions,
): Promise<ConnectionsFixture> {
  const open: NatsConnection[] = [];
  const servers = started.servers.map((s) => s.url);
  const more = async (o: NodeConnectionOptions = {}) => {
    const nc = await connect({ servers, ...o });
    open.push(nc);
    return nc;
  };
  const dispose = async () => {
    for (const nc of open.splice(0).reverse()) await nc.close().catch(() => {});
    await started.stop();
  };
  try {
    const nc = await more(opts);
    return { nc, logger: silentLogger, connect: more, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * Starts a nats-server with `config` (and the launcher's `start` options) and connects to it with
 * `opts` (after nats.js `nst` `setup()`); `[Symbol.asyncDispose]` closes the connections and stops
 * the server (nats.js `cleanup()`).
 *
 * @example A server per test:
 * ```ts
 * await using nats = await natsFixture({ max_payload: 4096 });
 * await serve(app, { service: "echo", nc: nats.nc, logger: nats.logger });
 * ```
 * @example One server for a describe block:
 * ```ts
 * let nats: NatsFixture;
 * beforeAll(async () => { nats = await natsFixture(); });
 * afterAll(() => nats?.[Symbol.asyncDispose]());
 * ```
 */
export async function natsFixture(
  config: ServerConfig = {},
  opts: NodeConnectionOptions = {},
  start: StartOptions = {},
): Promise<NatsFixture> {
  const server = await NatsServer.start(config, start);
  const fixture = await withConnections({ servers: [server], stop: () => server.stop() }, opts);
  return { ...fixture, server };
}

/**
 * Starts a cluster of `n` routed servers with `config` (see {@link cluster}) and connects to all its
 * nodes with `opts`; `[Symbol.asyncDispose]` closes the connections and stops every node.
 */
export async function clusterFixture(
  n = 3,
  config: ServerConfig = {},
  opts: NodeConnectionOptions = {},
): Promise<ClusterFixture> {
  const nodes = await cluster(n, config);
  const fixture = await withConnections(nodes, opts);
  return { ...fixture, cluster: nodes, servers: nodes.servers };
}

/**
 * Starts clusters joined by gateways (see {@link superCluster}) and connects to all their nodes with
 * `opts`; `[Symbol.asyncDispose]` closes the connections and stops every node.
 */
export async function superClusterFixture(
  spec: SuperClusterOptions = {},
  opts: NodeConnectionOptions = {},
): Promise<SuperClusterFixture> {
  const sc = await superCluster(spec);
  const fixture = await withConnections(sc, opts);
  return { ...fixture, clusters: sc.clusters, servers: sc.servers };
}
