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

/** What every fixture has: a silent logger, connections on demand, one cleanup. */
export interface Fixture extends AsyncDisposable {
  /** {@link silentLogger}. */
  readonly logger: Logger;
  /**
   * Opens a connection, by default to what the fixture started (`opts.servers` names others);
   * the fixture's `[Symbol.asyncDispose]` closes it.
   */
  connect(opts?: NodeConnectionOptions): Promise<NatsConnection>;
}

/** A fixture with a connection open to what it started. */
export interface ConnectionsFixture extends Fixture {
  /** A connection to what the fixture started (every node of a cluster). */
  readonly nc: NatsConnection;
}

/** A nats-server the fixture owns, no connection opened: see {@link natsFixture} with `{ connect: false }`. */
export interface NatsServerFixture extends Fixture {
  readonly server: NatsServer;
}

/** A nats-server with a connection to it: see {@link natsFixture}. */
export interface NatsFixture extends NatsServerFixture, ConnectionsFixture {}

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

type Started = { readonly servers: NatsServer[]; stop(): Promise<unknown> };

/**
 * A `connect()` to `started` and an `[Symbol.asyncDispose]` that closes every connection it opened
 * (last first) and then stops `started`.
 */
function owning(started: Started): Fixture {
  const open: NatsConnection[] = [];
  const servers = started.servers.map((s) => s.url);
  return {
    logger: silentLogger,
    async connect(o: NodeConnectionOptions = {}) {
      const nc = await connect({ servers, ...o });
      open.push(nc);
      return nc;
    },
    async [Symbol.asyncDispose]() {
      for (const nc of open.splice(0).reverse()) await nc.close().catch(() => {});
      await started.stop();
    },
  };
}

/** {@link owning} `started`, with a first connection opened with `opts` (`started` is stopped if that fails). */
async function withConnections(started: Started, opts: NodeConnectionOptions): Promise<ConnectionsFixture> {
  const fixture = owning(started);
  try {
    return { ...fixture, nc: await fixture.connect(opts) };
  } catch (err) {
    await fixture[Symbol.asyncDispose]();
    throw err;
  }
}

/**
 * Starts a nats-server with `config` (and the launcher's `start` options) and connects to it with
 * `opts` (after nats.js `nst` `setup()`); `[Symbol.asyncDispose]` closes the connections and stops
 * the server (nats.js `cleanup()`). With `{ connect: false }` no connection is opened: for a test
 * that reaches the server through natsmesh's own `connection` option or connect paths (credentials,
 * TLS, `NATS_URL`), with `nats.server.url`.
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
 * @example A server natsmesh connects to itself:
 * ```ts
 * await using nats = await natsFixture({ authorization: { token: "t" } }, { connect: false });
 * await using mesh = await connect({ servers: nats.server.url, token: "t" });
 * ```
 */
export function natsFixture(
  config: ServerConfig,
  opts: { connect: false },
  start?: StartOptions,
): Promise<NatsServerFixture>;
export function natsFixture(
  config?: ServerConfig,
  opts?: NodeConnectionOptions,
  start?: StartOptions,
): Promise<NatsFixture>;
export async function natsFixture(
  config: ServerConfig = {},
  opts: NodeConnectionOptions | { connect: false } = {},
  start: StartOptions = {},
): Promise<NatsServerFixture | NatsFixture> {
  const server = await NatsServer.start(config, start);
  const started = { servers: [server], stop: () => server.stop() };
  if ("connect" in opts && opts.connect === false) return { ...owning(started), server };
  return { ...(await withConnections(started, opts as NodeConnectionOptions)), server };
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
