/**
 * `createGatewayCluster`: the gateway in N worker processes (node:cluster) sharing one listening
 * port, as nginx's `worker_processes`; one worker serves in the calling process, as `createGateway`.
 *
 * @module
 */
import cluster from "node:cluster";
import type { Server } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { connect, type MeshConnection, type MeshConnectOptions } from "../../connect/index.js";
import { createDashboard, type Dashboard } from "../../dashboard/dashboard.js";
import { monitorUrlsFrom } from "../../dashboard/monitor.js";
import { createInsight, type MeshInsight } from "../../insight/aggregator.js";
import { registerCapacityMetrics } from "../../insight/prometheus.js";
import { createLogger } from "../../log/index.js";
import { ClosedError } from "../../protocol/index.js";
import { createAdminServer, type ReadinessReport } from "../admin/admin-server.js";
import { formatOrigin, type HostPort } from "../config/host-port.js";
import { type ConfigSource, loadConfig, readConfigSource, readTls } from "../config/load-config.js";
import type { ResolvedConfig } from "../config/resolve-config.js";
import { parseWorkers, WORKERS_EXPECTED, type WorkersSetting } from "../config/workers-setting.js";
import { GatewayConfigError } from "../errors.js";
import {
  bind,
  closeServer,
  createGatewayFrom,
  type Gateway,
  type GatewayAddresses,
  type GatewayOptions,
} from "../gateway.js";
import type { WorkerGatewayOptions } from "./cluster-messages.js";
import { ClusterMetrics } from "./cluster-metrics.js";
import { WorkerSlot } from "./worker-slot.js";

/**
 * Options of {@link createGatewayCluster}: those of `createGateway` that can cross to another process.
 *
 * @example
 * ```ts
 * const cluster = createGatewayCluster({ configFile: "gateway.yaml", workers: "auto" });
 * ```
 */
export interface GatewayClusterOptions
  extends Pick<
    GatewayOptions,
    | "config"
    | "configFile"
    | "listen"
    | "admin"
    | "tls"
    | "routes"
    | "prefix"
    | "drainDelay"
    | "insight"
    | "callerReports"
  > {
  /**
   * Worker processes: a whole number, or `auto` (`os.availableParallelism()`); overrides the
   * configuration's `workers` (default 1: the gateway serves in this process).
   */
  workers?: WorkersSetting;
  /**
   * Options to open each worker's NATS connection (NATS_* environment when omitted). With more than
   * one worker they must be JSON values (no functions, no buffers); the workers also inherit this
   * process's environment.
   */
  connection?: MeshConnectOptions;
  /**
   * pino logger: the access log with one worker; with several, the primary's lines (workers started,
   * exited, restarted) — each worker then logs its access lines as JSON to stdout.
   */
  logger?: Logger;
}

/**
 * Where a listening gateway cluster can be reached, and its processes.
 *
 * @example
 * ```ts
 * const { url, pids } = await createGatewayCluster({ workers: 4 }).listen();
 * console.log(url, pids);
 * ```
 */
export interface GatewayClusterAddresses extends GatewayAddresses {
  /** Process ids of the workers (this process's alone with one worker). */
  pids: readonly number[];
}

/**
 * A gateway in one or more processes.
 *
 * @example
 * ```ts
 * await using cluster = createGatewayCluster({ listen: "0.0.0.0:8080", workers: 4 });
 * await cluster.listen();
 * console.log(cluster.workers, cluster.pids);
 * ```
 */
export interface GatewayCluster {
  /**
   * Starts the workers (each connects to NATS and listens on the shared port), then the admin port
   * in this process. Fails as `createGateway`'s `listen()` does; a worker's failure comes as the
   * worker's own error (`GatewayConfigError`, or `GatewayWorkerError` with its message), and every
   * worker is stopped then.
   */
  listen(): Promise<GatewayClusterAddresses>;
  /** The number of worker processes. */
  readonly workers: number;
  /** Process ids of the live workers. */
  readonly pids: readonly number[];
  /**
   * Graceful close of every worker: each turns unready and keeps serving for `limits.drainDelay`,
   * then stops accepting connections and lets its in-flight requests finish (up to
   * `limits.shutdownTimeout`), then exits; then the admin port closes. Workers
   * are not restarted once closing. Safe to call more than once.
   */
  close(): Promise<void>;
  /** Same as {@link GatewayCluster.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The file node:cluster runs in each worker (the .ts source under tsx, tsc's .js otherwise). */
const WORKER_FILE = (() => {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), `cluster-worker${extname(here)}`);
})();
/** How long the primary waits for a worker's answer to `/readyz` and `/metrics`. */
const ASK_TIMEOUT_MS = 2000;
/** Delay before a worker that exited is started again; doubled for each death in a row within {@link HEALTHY_LIFE_MS}. */
const RESTART_BASE_MS = 100;
/** Longest delay before a restart. */
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long before it died counts as healthy: its replacement waits the base delay. */
const HEALTHY_LIFE_MS = 10_000;
/** Time past `limits.shutdownTimeout` after which workers that have not exited are killed. */
const STOP_GRACE_MS = 5000;

function assertJson(value: unknown, path: string): void {
  const fail = () => {
    throw new GatewayConfigError(
      "options",
      `${path} cannot be sent to worker processes: only JSON values can (use NATS_* variables or files instead)`,
    );
  };
  if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") fail();
  if (typeof value !== "object" || value === null) return;
  if (ArrayBuffer.isView(value) || value instanceof Map || value instanceof Set || value instanceof Date)
    fail();
  const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v] as const) : Object.entries(value);
  for (const [k, v] of entries) assertJson(v, Array.isArray(value) ? `${path}${k}` : `${path}.${k}`);
}

/**
 * Creates a gateway served by `workers` processes. The configuration is read and checked here, in
 * this process, before anything is forked or listens. With one worker (the default) the gateway
 * serves in this process exactly as `createGateway`; with N > 1 this process is the primary: it forks
 * N workers (node:cluster; on Linux the primary accepts connections and hands them round-robin to
 * the workers), each with its own NATS connection, serves the admin port itself (`/readyz` ready when
 * every worker is, `/metrics` summed over the workers), and starts a worker again when one dies,
 * unless closing. Rate limits and circuit breakers are per worker.
 *
 * @param options - configuration, addresses, worker count, NATS connection options, logger
 * @returns the cluster, not yet listening
 * @throws {@link GatewayConfigError} (and `PolicyConfigError`) as `createGateway`, or for a bad
 *   `workers` value or connection options that cannot be sent to a worker
 * @example
 * ```ts
 * await using gateway = createGatewayCluster({ configFile: "gateway.yaml", workers: "auto" });
 * const { url, pids } = await gateway.listen();
 * ```
 */
export function createGatewayCluster(options: GatewayClusterOptions = {}): GatewayCluster {
  const logger = options.logger ?? createLogger({ name: "natsmesh-gateway" });
  const from = readConfigSource(options);
  const config = loadConfig(options, from, {
    onAuthHookError: (err) => logger.error({ err }, "auth hook failed"),
  });
  const workers = options.workers === undefined ? config.workers : parseWorkers(options.workers);
  if (workers === undefined)
    throw new GatewayConfigError(
      "options",
      `workers must be ${WORKERS_EXPECTED} (got ${JSON.stringify(options.workers)})`,
    );
  if (workers === 1) return new InProcess(createGatewayFrom({ ...options, logger }, from));
  const { listen, tls, routes, prefix, connection, drainDelay, callerReports } = options;
  const forWorkers: WorkerGatewayOptions = {
    ...(listen !== undefined && { listen }),
    ...(drainDelay !== undefined && { drainDelay }),
    ...(tls !== undefined && { tls }),
    ...(routes !== undefined && { routes }),
    ...(prefix !== undefined && { prefix }),
    ...(connection !== undefined && { connection }),
    ...(callerReports !== undefined && { callerReports }),
  };
  assertJson(forWorkers, "options");
  return new ClusterPrimary(workers, config, from, forWorkers, logger, options.insight);
}

class InProcess implements GatewayCluster {
  readonly workers = 1;
  readonly #gateway: Gateway;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
  }

  get pids(): readonly number[] {
    return [process.pid];
  }

  async listen(): Promise<GatewayClusterAddresses> {
    return { ...(await this.#gateway.listen()), pids: this.pids };
  }

  close(): Promise<void> {
    return this.#gateway.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class ClusterPrimary implements GatewayCluster {
  readonly workers: number;
  readonly #config: ResolvedConfig;
  readonly #logger: Logger;
  readonly #slots: WorkerSlot[];
  readonly #metrics = new ClusterMetrics();
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  readonly #quickDeaths = new Map<WorkerSlot, number>();
  readonly #insightSetting: GatewayClusterOptions["insight"];
  readonly #connection: MeshConnectOptions | undefined;
  /** The primary's own view of the mesh for the admin port: a connection, an aggregator, the page. */
  #insight:
    | { mesh: MeshConnection; insight: MeshInsight; dashboard: Dashboard; registry: Registry }
    | undefined;
  #admin: Server | undefined;
  #addresses: GatewayClusterAddresses | undefined;
  #listening: Promise<GatewayClusterAddresses> | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    workers: number,
    config: ResolvedConfig,
    from: ConfigSource,
    options: WorkerGatewayOptions,
    logger: Logger,
    insight: GatewayClusterOptions["insight"],
  ) {
    this.workers = workers;
    this.#insightSetting = insight;
    this.#connection = options.connection;
    this.#config = config;
    this.#logger = logger;
    this.#slots = Array.from(
      { length: workers },
      (_, i) => new WorkerSlot(i + 1, { worker: i + 1, options, from }),
    );
  }

  readonly #killAll = (): void => {
    for (const slot of this.#slots) slot.kill();
  };

  get pids(): readonly number[] {
    return this.#slots.flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
  }

  listen(): Promise<GatewayClusterAddresses> {
    if (this.#closing) return Promise.reject(new ClosedError("the gateway"));
    this.#listening ??= this.#start();
    return this.#listening;
  }

  close(): Promise<void> {
    this.#closing ??= this.#stop();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #log(level: "info" | "warn" | "error", fields: object, message: string): void {
    this.#logger[level](fields, message);
    this.#logger.flush(); // rare lines: not left in a buffer
  }

  async #start(): Promise<GatewayClusterAddresses> {
    const config = this.#config;
    if (config.tls) await readTls(config.tls); // unreadable files are reported before any fork
    cluster.setupPrimary({ exec: WORKER_FILE, args: [], silent: false });
    process.once("exit", this.#killAll); // a forced exit (second Ctrl-C) leaves no worker behind
    try {
      const started = await Promise.allSettled(this.#slots.map((slot) => slot.spawn()));
      const failed = started.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      const first = (started[0] as PromiseFulfilledResult<{ url: string; address: HostPort }>).value;
      this.#metrics.workers.set(this.workers);
      for (const slot of this.#slots) this.#watch(slot);
      let adminAddress: HostPort | undefined;
      if (config.admin) {
        const metrics = this.#metrics;
        await this.#startInsight();
        const own = this.#insight?.registry;
        this.#admin = createAdminServer({
          metrics: async () => ({
            text: `${await this.#aggregateMetrics()}${own ? `\n${await own.metrics()}` : ""}`,
            contentType: metrics.contentType,
          }),
          readiness: () => this.#readiness(),
          dashboard: this.#insight?.dashboard,
        });
        adminAddress = await bind(this.#admin, config.admin, "admin");
      }
      this.#addresses = {
        url: first.url,
        address: first.address,
        adminUrl: adminAddress && formatOrigin("http", adminAddress),
        adminAddress,
        pids: this.pids,
      };
      if ([...config.routes, config.fallback].some((r) => r?.policies.some((p) => p.name === "rate-limit")))
        this.#log(
          "warn",
          { workers: this.workers },
          "rate limits are counted per worker process: a client may get up to the number of workers times a route's limit",
        );
      this.#log(
        "info",
        { url: first.url, admin: this.#addresses.adminUrl, workerPids: this.pids },
        "gateway listening",
      );
      return this.#addresses;
    } catch (err) {
      await this.#teardown();
      throw err;
    }
  }

  /** Sets the workers gauge to the workers listening now. */
  #countListening(): void {
    this.#metrics.workers.set(this.#slots.filter((s) => s.listening).length);
  }

  #watch(slot: WorkerSlot): void {
    void slot.exited.then((exit) => {
      this.#countListening();
      if (this.#closing) return;
      const quick = exit.livedMs < HEALTHY_LIFE_MS ? (this.#quickDeaths.get(slot) ?? -1) + 1 : 0;
      this.#quickDeaths.set(slot, quick);
      // Even the first restart waits a little: a signal to the whole process group (Ctrl-C) ends the
      // workers as it reaches the primary, and close() then cancels the restart rather than races it.
      const delay = Math.min(RESTART_BASE_MS * 2 ** quick, RESTART_MAX_MS);
      const timer = setTimeout(() => {
        this.#restartTimers.delete(timer);
        if (!this.#closing) void this.#restart(slot, exit);
      }, delay);
      this.#restartTimers.add(timer);
    });
  }

  async #restart(slot: WorkerSlot, exit: Awaited<WorkerSlot["exited"]>): Promise<void> {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    this.#log(
      "warn",
      { worker: slot.index, workerPid: exit.pid, code: exit.code, signal: exit.signal },
      `gateway worker ${slot.index} (pid ${exit.pid}) exited unexpectedly (${how}); starting another`,
    );
    this.#metrics.restarts.inc();
    const spawned = slot.spawn();
    this.#watch(slot);
    try {
      await spawned;
      this.#countListening();
      this.#log(
        "info",
        { worker: slot.index, workerPid: slot.pid },
        `gateway worker ${slot.index} listening`,
      );
    } catch (err) {
      this.#log("error", { worker: slot.index, err }, `gateway worker ${slot.index} could not start`);
    }
  }

  async #readiness(): Promise<ReadinessReport> {
    const slots = this.#slots;
    const answers = await Promise.all(
      slots.map(async (slot) => {
        if (this.#closing) return "shutting down";
        if (!slot.listening) return "starting";
        try {
          return (await slot.ask("ready", ASK_TIMEOUT_MS)).notReady ?? undefined;
        } catch (err) {
          return (err as Error).message;
        }
      }),
    );
    const detail = {
      workers: slots.map((slot, i) => ({ worker: slot.index, pid: slot.pid ?? null, ready: !answers[i] })),
    };
    const i = answers.findIndex((a) => a !== undefined);
    if (i < 0) return { reason: undefined, detail };
    const slot = slots[i]!;
    return { reason: `worker ${slot.index} (pid ${slot.pid ?? "none"}): ${answers[i]}`, detail };
  }

  /**
   * The admin port's dashboard and capacity metrics: the workers each have their own connection, so
   * the primary opens one for its aggregator; the workers' no-responders and timeouts reach it as
   * every caller's do, in their callers' reports on `$NM.CALLERS.<id>`.
   */
  async #startInsight(): Promise<void> {
    const setting = this.#insightSetting;
    if (setting === false) return;
    const { monitorUrls, ...options } = setting ?? {};
    const mesh = await connect({ ...this.#connection });
    let insight: MeshInsight | undefined;
    try {
      insight = createInsight(mesh.nc, { logger: this.#logger, ...options });
      const registry = new Registry();
      registerCapacityMetrics(registry, insight);
      const dashboard = createDashboard({
        insight,
        monitorUrls: monitorUrls ?? monitorUrlsFrom(process.env),
      });
      this.#insight = { mesh, insight, dashboard, registry };
    } catch (err) {
      insight?.close();
      await mesh.close();
      throw err;
    }
  }

  async #aggregateMetrics(): Promise<string> {
    const listening = this.#slots.filter((s) => s.listening);
    const parts = await Promise.all(
      listening.map(async (slot) => (await slot.ask("metrics", ASK_TIMEOUT_MS)).metrics ?? []),
    );
    return this.#metrics.aggregate(parts);
  }

  async #stop(): Promise<void> {
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    await this.#listening?.catch(() => undefined);
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    const slots = this.#slots;
    const alive = slots.map((slot) => slot.alive);
    for (const slot of slots) slot.stop();
    const { drainDelay, shutdownTimeout } = this.#config.limits;
    const deadline = drainDelay + shutdownTimeout + STOP_GRACE_MS;
    const killer = setTimeout(() => {
      this.#log("error", { afterMs: deadline }, "gateway workers did not exit in time; killing them");
      for (const slot of slots) slot.kill();
    }, deadline);
    const exits = await Promise.all(slots.map((slot) => slot.exited));
    clearTimeout(killer);
    for (const [i, exit] of exits.entries()) {
      if (this.#closing && alive[i] && exit.code !== 0)
        this.#log(
          "warn",
          { worker: slots[i]!.index, workerPid: exit.pid, code: exit.code, signal: exit.signal },
          "gateway worker did not stop cleanly",
        );
    }
    this.#metrics.workers.set(0);
    process.off("exit", this.#killAll);
    const admin = this.#admin;
    if (admin?.listening) {
      const closed = closeServer(admin);
      admin.closeAllConnections();
      await closed;
    }
    if (this.#insight) {
      this.#insight.dashboard.close();
      this.#insight.insight.close();
      await this.#insight.mesh.close();
      this.#insight = undefined;
    }
  }
}
