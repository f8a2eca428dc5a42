/**
 * The gateway configuration schema: what a YAML or JSON config file (or the `config` option of
 * `createGateway`) may contain. docs/GATEWAY.md documents every field with a full example.
 *
 * @module
 */
import type { EjectSettings } from "../../insight/silent-instances.js";

export type { EjectSettings };

/**
 * Retries of idempotent requests on no responders or a lost NATS connection.
 *
 * @example
 * ```ts
 * const retry: RetryConfig = { attempts: 3, backoffMs: 25, maxBackoffMs: 250 };
 * createGateway({ routes: [{ prefix: "/search", service: "search", retry }] });
 * ```
 */
export interface RetryConfig {
  /** Total attempts, the first included (default 3; 1 disables retries). */
  attempts?: number;
  /** Base of the exponential backoff in milliseconds (default 25). */
  backoffMs?: number;
  /** Largest backoff in milliseconds (default 250). */
  maxBackoffMs?: number;
}

/**
 * Hedged requests of a route (docs/TRAFFIC.md, "Hedged requests"): an idempotent request whose
 * answer is late is sent once more, the first answer wins and the other copy is cancelled. Off
 * unless given (`{}` for the defaults). A route's answer times and budget are kept per service.
 *
 * @example
 * ```ts
 * const hedge: HedgeConfig = { maxHedges: 1, quantile: 0.95, minDelayMs: 5, budgetRatio: 0.1 };
 * createGateway({ routes: [{ prefix: "/search", service: "search", hedge }] });
 * ```
 */
export interface HedgeConfig {
  /** Extra copies of one request at most, 1 to 5 (default 1). */
  maxHedges?: number;
  /** Quantile of the service's recent answer times after which a copy is sent, in (0, 1) (default 0.95). */
  quantile?: number;
  /** The delay is never below this, in milliseconds (default 10). */
  minDelayMs?: number;
  /** The delay is never above this, in milliseconds; the delay until 20 answers were seen (default 1000). */
  maxDelayMs?: number;
  /** Answer times kept per service, 20 to 10 000 (default 200). */
  samples?: number;
  /** Share of the requests that may be hedged, in [0, 1] (default 0.1). */
  budgetRatio?: number;
  /** Copies the budget holds at most, and starts with, ≥ 1 (default 5). */
  budgetBurst?: number;
}

/**
 * Settings a route can set, also given once in `defaults` for every route.
 *
 * @example
 * ```ts
 * const defaults: RouteSettings = {
 *   timeout: 10_000, // ms
 *   maxBody: "256kb",
 *   retry: { attempts: 2 },
 *   cors: { origins: ["https://app.example.com"] },
 *   rateLimit: { requests: 100, per: "second" },
 * };
 * createGateway({ config: { defaults } });
 * ```
 */
export interface RouteSettings {
  /** Deadline of the call to the service in milliseconds, retries included (default 30 000; 0: none). */
  timeout?: number;
  /** Retry settings; `false` disables retries. */
  retry?: RetryConfig | false;
  /** Hedged requests; off unless given (`{}` for the defaults), `false` turns off what `defaults` set. */
  hedge?: HedgeConfig | false;
  /** Largest request body: bytes, or a string such as `64kb`, `1mb` (default `1mb`). */
  maxBody?: number | string;
  /**
   * Durable requests (PROTOCOL.md §13): a request with `Prefer: respond-async` is stored in the
   * service's JetStream stream and answered 202 with `Location: <route>/$requests/<id>`, its status
   * resource (default false: the preference is ignored and the request served live).
   */
  durable?: boolean;
  /** CORS policy block, passed untouched to `buildPolicies` (see docs/GATEWAY.md). */
  cors?: unknown;
  /** Rate-limit policy block, passed untouched to `buildPolicies`. */
  rateLimit?: unknown;
  /** Authentication policy block, passed untouched to `buildPolicies`. */
  auth?: unknown;
}

/**
 * One route: requests whose host and/or path prefix match go to `service`. A route needs a `prefix`,
 * a `host`, or both.
 *
 * @example
 * ```ts
 * const route: RouteConfig = {
 *   name: "orders",
 *   prefix: "/api/orders",
 *   strip: true, // the service sees /42, not /api/orders/42
 *   service: "orders",
 *   timeout: 5_000,
 *   instanceHeader: "x-mesh-instance",
 * };
 * ```
 */
export interface RouteConfig extends RouteSettings {
  /** Name used in errors, logs and metrics (default: the host and prefix). Unique. */
  name?: string;
  /** The service that answers, e.g. `billing` or `billing.invoices`. */
  service: string;
  /** Path prefix, matched on whole segments: `/api/billing` matches `/api/billing/x`, not `/api/billingx`. */
  prefix?: string;
  /** Host name (port ignored, case-insensitive); `*.example.com` matches any sub-domain. */
  host?: string;
  /** Removes `prefix` from the path sent to the service (default false). */
  strip?: boolean;
  /**
   * A request header whose value names the instance that must answer (its `mesh-instance` id), e.g.
   * `x-mesh-instance`: public callers may then pick an instance of this route's service (PROTOCOL.md
   * §10). Off unless set. A gone instance is 503 at once, never retried on another; an id that is not
   * `[A-Za-z0-9_-]` is 400.
   */
  instanceHeader?: string;
}

/**
 * Server protection limits.
 *
 * @example
 * ```ts
 * const limits: LimitsConfig = { headersTimeout: 10_000, maxHeaderSize: 16_384, shutdownTimeout: 30_000, drainDelay: 5_000 };
 * createGateway({ config: { limits } });
 * ```
 */
export interface LimitsConfig {
  /** Time to receive the request head, in milliseconds (default 10 000). */
  headersTimeout?: number;
  /** Time to receive the whole request, body included, in milliseconds (default 30 000). */
  requestTimeout?: number;
  /** Time an idle keep-alive connection stays open, in milliseconds (default 5 000). */
  keepAliveTimeout?: number;
  /** Largest request head, in bytes (default 16 384). */
  maxHeaderSize?: number;
  /** Most header fields in one request, pseudo-headers not counted (default 128; HTTP/1.1: 431, HTTP/2: stream reset). */
  maxHeaderCount?: number;
  /** Largest number of open client connections; more are refused (default 10 000). */
  maxConnections?: number;
  /** Time `close()` waits for in-flight requests before closing connections, in milliseconds (default 30 000). */
  shutdownTimeout?: number;
  /**
   * Time `close()` keeps serving, with `/readyz` answering 503 and HTTP/1.1 answers carrying
   * `Connection: close`, before it stops accepting connections: the time a load balancer needs to see
   * the gateway unready and stop sending to it, in milliseconds (default 0: stop accepting at once).
   */
  drainDelay?: number;
}

/**
 * A circuit breaker per service (docs/TRAFFIC.md §2).
 *
 * @example
 * ```ts
 * const breaker: BreakerConfig = { failureRatio: 0.5, minimumCalls: 20, windowMs: 10_000, openMs: 5_000, probes: 1 };
 * createGateway({ config: { breaker } });
 * ```
 */
export interface BreakerConfig {
  /** Failure share over the window that opens the circuit, in (0, 1] (default 0.5). */
  failureRatio?: number;
  /** Calls the window must hold before the ratio counts (default 10). */
  minimumCalls?: number;
  /** Length of the sliding window in milliseconds (default 10 000). */
  windowMs?: number;
  /** How long an open circuit fails fast before probing, in milliseconds (default 5 000). */
  openMs?: number;
  /** Probe calls at once while half-open (default 1). */
  probes?: number;
}

/**
 * TLS certificate and key files (PEM). With them the gateway speaks HTTPS: HTTP/2 and HTTP/1.1.
 *
 * @example
 * ```ts
 * createGateway({ tls: { cert: "/etc/natsmesh/tls.crt", key: "/etc/natsmesh/tls.key" } });
 * ```
 */
export interface TlsConfig {
  /** Certificate chain file. Relative paths are read from the config file's directory. */
  cert: string;
  /** Private key file. */
  key: string;
}

/**
 * The whole gateway configuration. Every field is optional.
 *
 * @example
 * ```ts
 * const gateway = createGateway({
 *   config: {
 *     listen: "0.0.0.0:8080",
 *     admin: "127.0.0.1:8081",
 *     trustedProxies: ["10.0.0.0/8"],
 *     limits: { requestTimeout: 30_000, maxConnections: 10_000 },
 *     breaker: { failureRatio: 0.5, openMs: 5_000 },
 *     defaults: { timeout: 10_000, maxBody: "1mb" },
 *     routes: [{ name: "api", prefix: "/api/orders", service: "orders", strip: true }],
 *   },
 * });
 * ```
 */
export interface GatewayConfig {
  /** Public listen address `HOST:PORT` (default `127.0.0.1:8080`). */
  listen?: string;
  /** Admin listen address `HOST:PORT` for /healthz, /readyz and /metrics (default: none). */
  admin?: string;
  /** HTTPS with these files; plain HTTP/1.1 without. */
  tls?: TlsConfig;
  /** Subject prefix of the mesh (default: NATS_PREFIX, else `mesh`). */
  prefix?: string;
  /**
   * Worker processes of `natsmesh gateway` and `createGatewayCluster` (default 1: the gateway serves
   * in its own process): a whole number, or `auto` for one per available CPU. They share the
   * listening port; `createGateway` always serves in the calling process and ignores it.
   */
  workers?: number | "auto";
  /** Routes `/<service>/<rest>` to `<service>` with path `/<rest>` when no route matches (default true). */
  defaultRoute?: boolean;
  /** Peers (IPs or CIDRs) whose X-Forwarded-* and Forwarded headers are kept and extended. */
  trustedProxies?: string[];
  /** Server protection limits. */
  limits?: LimitsConfig;
  /** A circuit breaker per service; off unless given (`{}` for the defaults), `false` for none. */
  breaker?: BreakerConfig | false;
  /**
   * Outlier ejection (docs/TRAFFIC.md, "Outlier ejection"): on by default; `false` turns it off.
   * `silentIntervals` (default 2.5): report intervals without a report before an instance is
   * suspect; `maxMs` (default 60000): how long a silent instance is routed around at most.
   */
  eject?: boolean | EjectSettings;
  /** Route settings applied to every route (and the default rule) unless a route sets its own. */
  defaults?: RouteSettings;
  /** The routes; the most specific match wins (see docs/GATEWAY.md). */
  routes?: RouteConfig[];
}

/** Default route settings. */
export const ROUTE_DEFAULTS = {
  timeout: 30_000,
  maxBody: 1024 * 1024,
  retry: { attempts: 3, backoffMs: 25, maxBackoffMs: 250 },
} as const;

/** Default protection limits. */
export const LIMIT_DEFAULTS = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5_000,
  maxHeaderSize: 16_384,
  maxHeaderCount: 128,
  maxConnections: 10_000,
  shutdownTimeout: 30_000,
  drainDelay: 0,
} as const;

/** Resolved protection limits. */
export type Limits = { -readonly [K in keyof typeof LIMIT_DEFAULTS]: number };

/** Default public listen address. */
export const DEFAULT_LISTEN = "127.0.0.1:8080";
