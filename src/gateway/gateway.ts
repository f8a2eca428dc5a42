/**
 * `createGateway`: the HTTP(S) front door that routes public traffic to services over NATS.
 *
 * @module
 */
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ConnectionSource, type ConnectionSourceOptions, type ResolvedConnection } from "../connect/index.js";
import { createDashboard, type Dashboard } from "../dashboard/dashboard.js";
import { monitorUrlsFrom } from "../dashboard/monitor.js";
import { createInsight, type InsightOptions, type MeshInsight } from "../insight/aggregator.js";
import { type CallerReporter, startCallerReporter } from "../insight/caller-report.js";
import type { CallerCounts } from "../insight/callers.js";
import { registerCapacityMetrics } from "../insight/prometheus.js";
import { checkEjectSettings, type EjectSettings, SilentInstances } from "../insight/silent-instances.js";
import { createLogger } from "../log/index.js";
import { ClosedError } from "../protocol/index.js";
import { GATEWAY_CIRCUIT_GAUGE } from "../traffic/breaker-metrics.js";
import { type BreakerSettings, ServiceBreakers } from "../traffic/service-breakers.js";
import { createAdminServer } from "./admin/admin-server.js";
import { GatewayMetrics } from "./admin/metrics.js";
import { Readiness } from "./admin/readiness.js";
import type { GatewayConfig, RouteConfig, TlsConfig } from "./config/config-types.js";
import { formatOrigin, type HostPort } from "./config/host-port.js";
import { type ConfigSource, loadConfig, readConfigSource, readTls } from "./config/load-config.js";
import type { ResolvedConfig } from "./config/resolve-config.js";
import { GatewayConfigError } from "./errors.js";
import { logAccess } from "./front-door/access-log.js";
import { answerClientError } from "./front-door/client-error.js";
import { ConnectionTracker } from "./front-door/connection-tracker.js";
import { createPublicServer, listen, type PublicServer } from "./front-door/public-server.js";
import { type GatewayRetryHook, RequestHandler } from "./front-door/request-handler.js";
import { Router } from "./front-door/router.js";
import { TrustedProxies } from "./front-door/trusted-proxies.js";
import type { AuthHook } from "./policies/types.js";

/**
 * Options of {@link createGateway}. The NATS connection comes from `nc`, `connection` or the NATS_* environment.
 *
 * @example
 * ```ts
 * await using gateway = createGateway({
 *   connection: { servers: "nats://127.0.0.1:4222" },
 *   listen: "0.0.0.0:8080",
 *   admin: "127.0.0.1:8081",
 *   routes: [{ prefix: "/weather", service: "weather", strip: true }],
 *   onRetry: (e) => console.warn(`${e.route}: retry ${e.attempt} of ${e.method} ${e.requestId}`),
 * });
 * await gateway.listen();
 * ```
 */
export interface GatewayOptions extends ConnectionSourceOptions {
  /** The configuration as an object (same schema as the file). */
  config?: GatewayConfig;
  /** A YAML or JSON configuration file, read when the gateway is created. */
  configFile?: string;
  /** Public listen address `HOST:PORT`; overrides the configuration's. */
  listen?: string;
  /** Admin listen address `HOST:PORT`; overrides the configuration's. */
  admin?: string;
  /** TLS files (relative to the working directory); override the configuration's. */
  tls?: TlsConfig;
  /** Routes added after the configuration's (e.g. from `--route` flags). */
  routes?: RouteConfig[];
  /**
   * Milliseconds `close()` keeps serving while `/readyz` answers 503, before it stops accepting
   * connections; overrides the configuration's `limits.drainDelay` (default 0).
   */
  drainDelay?: number;
  /** pino logger for access lines and errors (default: JSON to stdout at NATSMESH_LOG_LEVEL, else `info`). */
  logger?: Logger;
  /**
   * Authentication hook, used by routes whose configuration says `auth: { hook: true }` (put it in
   * `defaults` to cover every route and the default rule).
   */
  auth?: AuthHook;
  /** Called, and awaited, before an idempotent request is sent again (after no responders or a lost connection). */
  onRetry?: GatewayRetryHook;
  /**
   * A circuit breaker per service (off unless given here or as the configuration's `breaker`; `{}` for
   * the defaults): open, the gateway answers 503 `NM_ERR_CIRCUIT_OPEN` at once. State in
   * `natsmesh_gateway_circuit_state{service}` on `/metrics`. This option wins over the configuration's.
   */
  breaker?: BreakerSettings;
  /**
   * The mesh dashboard and capacity metrics on the admin port (only with an admin address, in the
   * process that serves it): an aggregator of the instances' insight reports, the page at `/`, and
   * `natsmesh_insight_*` on `/metrics`. On by default; `false` turns it off. `monitorUrls` (default
   * from `NATS_MONITOR_URL`) adds the NATS servers' facts to the page.
   */
  insight?:
    | false
    | (InsightOptions & {
        /** NATS monitoring endpoints (`http://host:8222`) whose facts the page shows; default from `NATS_MONITOR_URL`. */
        monitorUrls?: readonly string[];
      });
  /**
   * Outlier ejection (docs/TRAFFIC.md, "Outlier ejection"): while an instance that reported lately is
   * silent (no insight report for `silentIntervals` of its intervals, no `bye`) and others of its
   * service still report, that service's requests go to the healthy instances by name (`$I`) rather
   * than to the queue group, for `maxMs` at most. On by default (`{}`); `false` turns it off. This
   * option wins over the configuration's `eject`. Counted in `natsmesh_gateway_suspect_instances`
   * and `natsmesh_gateway_routed_around_total`.
   */
  eject?: false | EjectSettings;
  /**
   * Publish the gateway's callers' report — per service: calls, no-responders and timeouts, which no
   * instance can see — on `$NM.CALLERS.<id>` each second, for every aggregator (this admin port, a
   * cluster primary's, `natsmesh dashboard`, `natsmesh top`) to sum (PROTOCOL.md §12). Default
   * true (every second; `{ interval }` in ms sets another period); the gateway's NATS user then
   * needs publish permission on `$NM.CALLERS.>`.
   */
  callerReports?:
    | boolean
    | {
        /** Milliseconds between two reports (≥ 1). */
        interval: number;
      };
}

/**
 * Where a listening gateway can be reached.
 *
 * @example
 * ```ts
 * const { url, adminUrl, address } = await createGateway({ listen: "127.0.0.1:0" }).listen();
 * console.log(url, adminUrl, address.port);
 * ```
 */
export interface GatewayAddresses {
  /** Public origin, e.g. `http://127.0.0.1:8080` or `https://127.0.0.1:8443`. */
  url: string;
  /** Public bound address. */
  address: HostPort;
  /** Admin origin, when an admin address is configured. */
  adminUrl: string | undefined;
  /** Admin bound address, when configured. */
  adminAddress: HostPort | undefined;
}

/**
 * A gateway: created with its configuration checked, serving once {@link Gateway.listen} resolves.
 *
 * @example
 * ```ts
 * const gateway = createGateway({ configFile: "gateway.yaml" });
 * await gateway.listen();
 * process.once("SIGTERM", () => void gateway.close());
 * ```
 */
export interface Gateway {
  /**
   * Connects to NATS (if not given a connection), then listens on the public and admin addresses.
   * Calling it again returns the same addresses. Fails with `ConnectError` when NATS cannot be
   * reached, {@link GatewayConfigError} when a TLS file cannot be read or an address cannot be bound
   * (`listen: cannot listen on 127.0.0.1:8080 (EADDRINUSE)`); nothing stays open then.
   */
  listen(): Promise<GatewayAddresses>;
  /** The addresses, once listening. */
  readonly addresses: GatewayAddresses | undefined;
  /** Public port, once listening. */
  readonly port: number | undefined;
  /** Admin port, once listening with an admin address. */
  readonly adminPort: number | undefined;
  /** The gateway's Prometheus registry (also served on the admin port's `/metrics`). */
  readonly metrics: Registry;
  /** Whether it listens, is connected to NATS and is not closing (what `/readyz` reports). */
  readonly ready: boolean;
  /** Why it is not ready (the reason `/readyz` gives), or `undefined` when {@link Gateway.ready}. */
  readonly notReady: string | undefined;
  /**
   * Graceful close: turns unready (`/readyz` 503) and keeps serving for `limits.drainDelay`, with
   * HTTP/1.1 answers carrying `Connection: close`; then stops accepting connections, ends idle ones,
   * lets in-flight requests finish (up to `limits.shutdownTimeout`), ends the rest, closes the admin
   * port and the NATS connection it opened. Safe to call more than once.
   */
  close(): Promise<void>;
  /** Same as {@link Gateway.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Time left, after in-flight requests finished, for clients to close their connections. */
const CLOSE_GRACE_MS = 1000;

/**
 * Listens on `address`, or fails with a {@link GatewayConfigError} for `field` that names the address
 * and the system's code (`listen: cannot listen on 127.0.0.1:8080 (EADDRINUSE)`).
 */
export async function bind(
  server: Server | PublicServer,
  address: HostPort,
  field: string,
): Promise<HostPort> {
  try {
    return await listen(server, address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new GatewayConfigError(
      field,
      `cannot listen on ${formatOrigin("tcp", address).slice(6)} (${code})`,
      {
        cause: err,
      },
    );
  }
}

/** Resolves once `server` stopped listening and its connections are gone. */
export function closeServer(server: Server | PublicServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Creates a gateway. The configuration (file, object, overrides, routes and their policy blocks) is
 * checked here, before anything listens; `listen()` then connects and binds.
 *
 * @param options - configuration, listen addresses, NATS connection, logger, auth hook
 * @returns the gateway, not yet listening
 * @throws {@link GatewayConfigError} naming the file, the route and the problem, e.g.
 *   `gateway.yaml: routes[2] (name 'billing'): service 'Bad Name' is not a valid service name`;
 *   `PolicyConfigError` for a bad `cors`, `rateLimit` or `auth` block
 * @example
 * ```ts
 * await using gateway = createGateway({
 *   listen: "127.0.0.1:8080",
 *   config: { routes: [{ name: "billing", prefix: "/api/billing", strip: true, service: "billing" }] },
 * });
 * const { url } = await gateway.listen();   // GET {url}/api/billing/invoices → service billing, path /invoices
 * ```
 */
export function createGateway(options: GatewayOptions = {}): Gateway {
  return createGatewayFrom(options, readConfigSource(options));
}

/**
 * {@link createGateway} with the configuration already read: what a worker process runs.
 *
 * @param options - as {@link createGateway}; `config` and `configFile` are not read
 * @param from - the configuration as read
 * @param serveAdmin - false to leave out the admin port (a worker's primary serves it)
 * @returns the gateway, not yet listening
 * @throws as {@link createGateway}
 * @example
 * ```ts
 * const gateway = createGatewayFrom({}, { raw: config, source: "gateway.yaml", baseDir: "/etc/gw" }, false);
 * ```
 */
export function createGatewayFrom(options: GatewayOptions, from: ConfigSource, serveAdmin = true): Gateway {
  const logger = options.logger ?? createLogger({ name: "natsmesh-gateway" });
  const config = loadConfig(options, from, {
    ...(options.auth && { auth: options.auth }),
    onAuthHookError: (err) => logger.error({ err }, "auth hook failed"),
  });
  if (!serveAdmin) config.admin = undefined;
  return new GatewayImpl(options, config, logger);
}

class GatewayImpl implements Gateway {
  readonly #config: ResolvedConfig;
  readonly #logger: Logger;
  readonly #source: ConnectionSource;
  readonly #metrics = new GatewayMetrics();
  readonly #tracker = new ConnectionTracker();
  readonly #router: Router;
  readonly #trusted: TrustedProxies;
  readonly #onRetry: GatewayRetryHook | undefined;
  readonly #breakers: ServiceBreakers;
  readonly #insightOptions: GatewayOptions["insight"];
  #insight: MeshInsight | undefined;
  readonly #eject: false | EjectSettings;
  #silent: SilentInstances | undefined;
  readonly #callerReports: NonNullable<GatewayOptions["callerReports"]>;
  #callerReporter: CallerReporter | undefined;
  #dashboard: Dashboard | undefined;
  #conn: ResolvedConnection | undefined;
  #readiness: Readiness | undefined;
  #public: PublicServer | undefined;
  #admin: Server | undefined;
  #addresses: GatewayAddresses | undefined;
  #listening: Promise<GatewayAddresses> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: GatewayOptions, config: ResolvedConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    this.#onRetry = options.onRetry;
    this.#insightOptions = options.insight;
    const eject = options.eject ?? config.eject;
    this.#eject = eject === false ? false : checkEjectSettings(eject);
    this.#callerReports = options.callerReports ?? true;
    if (typeof this.#callerReports === "object") {
      const { interval } = this.#callerReports;
      if (!(Number.isFinite(interval) && interval >= 1))
        throw new GatewayConfigError("options", `callerReports.interval (ms) must be ≥ 1: got ${interval}`);
    }
    const breaker = options.breaker ?? config.breaker;
    this.#breakers = new ServiceBreakers(
      breaker ? { ...breaker, registry: this.#metrics.registry } : false,
      GATEWAY_CIRCUIT_GAUGE,
    );
    this.#router = new Router(config.routes, config.fallback);
    this.#trusted = new TrustedProxies(config.trustedProxies);
    const prefix = options.prefix ?? config.prefix;
    this.#source = new ConnectionSource({ ...options, ...(prefix !== undefined && { prefix }) });
  }

  get addresses(): GatewayAddresses | undefined {
    return this.#addresses;
  }

  get port(): number | undefined {
    return this.#addresses?.address.port;
  }

  get adminPort(): number | undefined {
    return this.#addresses?.adminAddress?.port;
  }

  get metrics(): Registry {
    return this.#metrics.registry;
  }

  get ready(): boolean {
    return this.notReady === undefined;
  }

  get notReady(): string | undefined {
    if (this.#closing) return "shutting down";
    if (!this.#readiness || !this.#addresses) return "starting";
    return this.#readiness.reason;
  }

  listen(): Promise<GatewayAddresses> {
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

  async #start(): Promise<GatewayAddresses> {
    const config = this.#config;
    const tls = config.tls ? await readTls(config.tls) : undefined;
    const scheme = tls ? "https" : "http";
    this.#conn = await this.#source.get();
    this.#readiness = new Readiness(this.#conn.nc);
    if (this.#eject !== false) {
      this.#silent = new SilentInstances(this.#conn.nc, this.#conn.prefix, this.#eject);
      this.#silent.register(this.#metrics.registry);
    }
    const handler = new RequestHandler({
      router: this.#router,
      trusted: this.#trusted,
      scheme,
      requestTimeout: config.limits.requestTimeout,
      metrics: this.#metrics,
      logger: this.#logger,
      tracker: this.#tracker,
      mesh: () => this.#conn!,
      closing: () => this.#closing !== undefined,
      onRetry: this.#onRetry,
      breakers: this.#breakers,
      silent: this.#silent,
    });
    try {
      try {
        this.#public = createPublicServer({
          tls,
          limits: config.limits,
          tracker: this.#tracker,
          onRequest: (req, res, expectContinue) => handler.handle(req, res, expectContinue),
          onClientError: (err, socket) => {
            const answer = answerClientError(err, socket, this.#tracker.isBusy(socket));
            if (answer) {
              this.#metrics.observe("none", "", "OTHER", answer.status, 0);
              logAccess(this.#logger, {
                method: "",
                path: "",
                status: answer.status,
                durationMs: 0,
                route: "none",
                service: "",
                instance: undefined,
                requestId: answer.requestId,
                code: answer.code,
              });
            }
          },
        });
      } catch (err) {
        throw new GatewayConfigError("tls", `cannot use the certificate and key: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const address = await bind(this.#public, config.listen, "listen");
      let adminAddress: HostPort | undefined;
      if (this.#callerReports !== false) this.#startCallerReports(this.#conn.nc);
      if (config.admin) {
        const readiness = this.#readiness;
        const registry = this.#metrics.registry;
        this.#startInsight(this.#conn.nc);
        this.#admin = createAdminServer({
          metrics: async () => ({ text: await registry.metrics(), contentType: registry.contentType }),
          readiness: () => ({ reason: this.#closing ? "shutting down" : readiness.reason }),
          dashboard: this.#dashboard,
        });
        adminAddress = await bind(this.#admin, config.admin, "admin");
      }
      this.#addresses = {
        url: formatOrigin(scheme, address),
        address,
        adminUrl: adminAddress && formatOrigin("http", adminAddress),
        adminAddress,
      };
      this.#logger.info(
        { url: this.#addresses.url, admin: this.#addresses.adminUrl, routes: config.routes.length },
        "gateway listening",
      );
      return this.#addresses;
    } catch (err) {
      await this.#teardown();
      throw err;
    }
  }

  /** The aggregator, its capacity metrics and the dashboard of the admin port, unless turned off. */
  #startInsight(nc: NatsConnection): void {
    const settings = this.#insightOptions;
    if (settings === false || this.#insight) return;
    const { monitorUrls, ...options } = settings ?? {};
    const insight = createInsight(nc, { logger: this.#logger, ...options });
    this.#insight = insight;
    this.#dashboard = createDashboard({ insight, monitorUrls: monitorUrls ?? monitorUrlsFrom(process.env) });
    registerCapacityMetrics(this.#metrics.registry, insight);
  }

  /**
   * What the gateway's calls saw and no instance can report (calls, no responders, its own
   * timeouts), published for every aggregator — its own admin port's included, over NATS as anyone's.
   */
  #startCallerReports(nc: NatsConnection): void {
    const metrics = this.#metrics;
    const counts = async (): Promise<CallerCounts[]> => {
      const [calls, missed, late] = await Promise.all([
        metrics.requests.get(),
        metrics.noResponders.get(),
        metrics.timeouts.get(),
      ]);
      const out: CallerCounts[] = [];
      for (const { labels, value } of calls.values)
        out.push({ service: String(labels.service ?? ""), calls: value, noResponders: 0, timeouts: 0 });
      for (const { labels, value } of missed.values)
        out.push({ service: String(labels.service ?? ""), noResponders: value, timeouts: 0 });
      for (const { labels, value } of late.values)
        out.push({ service: String(labels.service ?? ""), noResponders: 0, timeouts: value });
      return out.filter((c) => c.service !== "");
    };
    this.#callerReporter = startCallerReporter(nc, {
      caller: `gw-${nuid.next()}`,
      kind: "gateway",
      ...(typeof this.#callerReports === "object" && { interval: this.#callerReports.interval }),
      counts,
      logger: this.#logger,
    });
  }

  async #stop(): Promise<void> {
    await this.#listening?.catch(() => undefined);
    // The drain: unready (`#closing` is set) while still serving, so that a load balancer stops
    // sending before the listener closes; answers meanwhile carry `Connection: close`.
    const { drainDelay } = this.#config.limits;
    if (drainDelay > 0 && this.#public?.listening) {
      this.#logger.info({ drainDelayMs: drainDelay }, "gateway draining: unready, still serving");
      await sleep(drainDelay);
    }
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    this.#readiness?.close();
    const server = this.#public;
    if (server?.listening) {
      const closed = closeServer(server);
      this.#tracker.closeIdle();
      const timeout = this.#config.limits.shutdownTimeout;
      const abandon = new AbortController();
      await Promise.race([
        this.#tracker.idle(),
        sleep(timeout, undefined, { signal: abandon.signal }).catch(() => {}),
      ]);
      this.#tracker.closeIdle();
      await Promise.race([
        closed,
        sleep(CLOSE_GRACE_MS, undefined, { signal: abandon.signal }).catch(() => {}),
      ]);
      abandon.abort();
      this.#tracker.destroyAll();
      await closed;
    }
    await this.#callerReporter?.stop();
    this.#dashboard?.close();
    this.#insight?.close();
    this.#silent?.close();
    const admin = this.#admin;
    if (admin?.listening) {
      const closed = closeServer(admin);
      admin.closeAllConnections();
      await closed;
    }
    await this.#source.close();
  }
}
