/**
 * Validates a gateway configuration (from a file or the API) and resolves it into what the gateway
 * serves with: listen addresses, limits and routes with their built policies.
 *
 * @module
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { assertPrefix, assertServiceName } from "../../protocol/index.js";
import { type HedgeSettings, hedgeBudgetPolicy, hedgePolicy } from "../../traffic/hedge-policy.js";
import { NO_RETRY, type RetryPolicy } from "../../traffic/retry.js";
import type { BreakerSettings } from "../../traffic/service-breakers.js";
import { type BuildPoliciesOptions, buildPolicies } from "../policies/index.js";
import { ConfigCheck, describe } from "./config-check.js";
import {
  DEFAULT_LISTEN,
  type EjectSettings,
  LIMIT_DEFAULTS,
  type Limits,
  ROUTE_DEFAULTS,
} from "./config-types.js";
import { type HostPort, parseHostPort } from "./host-port.js";
import { DEFAULT_ROUTE_NAME, type Route } from "./route.js";
import { parseSize } from "./size.js";
import { parseWorkers, WORKERS_EXPECTED } from "./workers-setting.js";

/** A configuration resolved and checked, ready to serve. */
export interface ResolvedConfig {
  /** Public listen address. */
  listen: HostPort;
  /** Admin listen address, if any. */
  admin: HostPort | undefined;
  /** Absolute paths of the TLS certificate and key, if any. */
  tls: { cert: string; key: string } | undefined;
  /** Subject prefix from the file, if any. */
  prefix: string | undefined;
  /** Worker processes (1 unless the configuration says otherwise; the configuration's `workers`). */
  workers: number;
  /** The trusted proxies (IPs and CIDRs), as written. */
  trustedProxies: readonly string[];
  /** Protection limits. */
  limits: Limits;
  /** Circuit breaker settings, when enabled. */
  breaker: BreakerSettings | undefined;
  /** Outlier ejection settings, or `false` when turned off (on by default). */
  eject: false | EjectSettings;
  /** The routes, in file order. */
  routes: Route[];
  /** The default rule, or `undefined` when disabled. */
  fallback: Route | undefined;
  /** The resolved `defaults`, which routes added later (flags, options) start from. */
  defaults: RouteDefaults;
}

/** How to resolve a configuration. */
export interface ResolveOptions {
  /** Names the configuration in errors, e.g. the file path `gateway.yaml`. */
  source: string;
  /** Directory relative paths (TLS files, JWKS files) start from. */
  baseDir: string;
  /** The API's auth hook and its error reporter, for `auth: { hook: true }`. */
  policies?: Omit<BuildPoliciesOptions, "baseDir">;
}

const TOP_KEYS = [
  "listen",
  "admin",
  "tls",
  "prefix",
  "workers",
  "defaultRoute",
  "trustedProxies",
  "limits",
  "breaker",
  "eject",
  "defaults",
  "routes",
] as const;
const BREAKER_KEYS = ["failureRatio", "minimumCalls", "windowMs", "openMs", "probes"] as const;
const SETTING_KEYS = [
  "timeout",
  "retry",
  "hedge",
  "maxBody",
  "durable",
  "cors",
  "rateLimit",
  "auth",
] as const;
const ROUTE_KEYS = ["name", "service", "prefix", "host", "strip", "instanceHeader", ...SETTING_KEYS] as const;
const RETRY_KEYS = ["attempts", "backoffMs", "maxBackoffMs"] as const;
const HEDGE_KEYS = [
  "maxHedges",
  "quantile",
  "minDelayMs",
  "maxDelayMs",
  "samples",
  "budgetRatio",
  "budgetBurst",
] as const;
const HOST_RE = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const PREFIX_RE = /^\/[^\s?#]*$/;
const NAME_RE = /^[\x21-\x7e]([\x20-\x7e]{0,98}[\x21-\x7e])?$/;

/** Route settings after merging a route over `defaults`. */
export interface RouteDefaults {
  /** Deadline of a call in milliseconds; 0 for none. */
  readonly timeout: number;
  /** Retries of idempotent requests. */
  readonly retry: RetryPolicy;
  /** Hedged requests, or `undefined` when off. */
  readonly hedge: HedgeSettings | undefined;
  /** Largest request body, in bytes. */
  readonly maxBody: number;
  /** Whether `Prefer: respond-async` stores requests durably (PROTOCOL.md §13). */
  readonly durable: boolean;
  /** The untyped policy blocks, for `buildPolicies`. */
  readonly policyBlocks: { cors?: unknown; rateLimit?: unknown; auth?: unknown };
}

/**
 * Validates and resolves a whole configuration.
 *
 * @param raw - the parsed file (or the API's `config` object); `undefined` for an empty one
 * @param options - its name in errors, the base directory and the auth hook
 * @returns the resolved configuration
 * @throws {@link GatewayConfigError} naming the source, the place and the problem, e.g.
 *   `gateway.yaml: routes[2] (name 'billing'): service 'Bad Name' is not a valid service name`;
 *   `PolicyConfigError` for a bad `cors`, `rateLimit` or `auth` block
 * @example
 * ```ts
 * const config = resolveConfig(parse(text), { source: "gateway.yaml", baseDir: "/etc/natsmesh" });
 * ```
 */
export function resolveConfig(raw: unknown, options: ResolveOptions): ResolvedConfig {
  const check: ConfigCheck = new ConfigCheck(options.source);
  const top = check.mapping(raw ?? {}, "", TOP_KEYS);
  const listen = hostPort(check, top.listen ?? DEFAULT_LISTEN, "listen");
  const admin = top.admin === undefined ? undefined : hostPort(check, top.admin, "admin");
  const prefix = check.string(top.prefix, "prefix");
  if (prefix !== undefined) {
    try {
      assertPrefix(prefix);
    } catch (err) {
      check.fail(`prefix ${(err as Error).message.replace(/^invalid subject prefix /, "")} is invalid`);
    }
  }
  const workers = top.workers === undefined ? 1 : parseWorkers(top.workers);
  if (workers === undefined) check.fail(`workers must be ${WORKERS_EXPECTED} (got ${describe(top.workers)})`);
  const defaults = settings(check, top.defaults, "defaults.", undefined);
  const routes = (check.list(top.routes, "routes") ?? []).map((entry, i) =>
    resolveRoute(entry, `${options.source}: routes[${i}]`, defaults, options),
  );
  assertUniqueNames(routes, options.source);
  const fallback =
    check.boolean(top.defaultRoute, "defaultRoute") === false
      ? undefined
      : routeOf(
          DEFAULT_ROUTE_NAME,
          "",
          undefined,
          undefined,
          false,
          defaults,
          `${options.source}: defaults`,
          options,
        );
  return {
    listen,
    admin,
    tls: tlsFiles(check, top.tls, options.baseDir),
    prefix,
    workers,
    trustedProxies: trustedProxies(check, top.trustedProxies),
    limits: limits(check, top.limits),
    breaker: breaker(check, top.breaker),
    eject: eject(check, top.eject),
    routes,
    fallback,
    defaults,
  };
}

/**
 * Validates one route and builds its policies.
 *
 * @param raw - the untyped route
 * @param place - the source and index, e.g. `gateway.yaml: routes[2]`; the route's name is added
 * @param defaults - the resolved `defaults` of the configuration
 * @param options - base directory and auth hook
 * @returns the route
 * @throws {@link GatewayConfigError}; `PolicyConfigError` for a bad policy block
 * @example
 * ```ts
 * resolveRoute({ prefix: "/api", service: "api" }, "options.routes[0]", config.defaults, { source: "options", baseDir: "." });
 * ```
 */
export function resolveRoute(
  raw: unknown,
  place: string,
  defaults: RouteDefaults,
  options: ResolveOptions,
): Route {
  const name = nameOf(raw);
  const where = name === undefined ? place : `${place} (name '${name}')`;
  const check: ConfigCheck = new ConfigCheck(where);
  const route = check.mapping(raw, "", ROUTE_KEYS);
  if (route.name !== undefined && name === undefined)
    check.fail(`name must be 1 to 100 printable characters (got ${describe(route.name)})`);
  const service = check.string(route.service, "service");
  if (service === undefined) check.fail("needs a 'service'");
  try {
    assertServiceName(service);
  } catch {
    check.fail(
      `service '${service}' is not a valid service name (use lower-case letters, digits, '_' and '-', with '.' between parts)`,
    );
  }
  const prefix = routePrefix(check, route.prefix);
  const host = routeHost(check, route.host);
  if (prefix === undefined && host === undefined) check.fail("needs a 'prefix' or a 'host'");
  const strip = check.boolean(route.strip, "strip") ?? false;
  if (strip && prefix === undefined) check.fail("strip needs a 'prefix'");
  const label = name ?? `${host ?? ""}${prefix ?? ""}`;
  const instanceHeader = check.string(route.instanceHeader, "instanceHeader")?.toLowerCase();
  if (instanceHeader !== undefined && !HEADER_NAME.test(instanceHeader))
    check.fail(`instanceHeader must be a header name, got '${instanceHeader}'`);
  const resolved = routeOf(
    label,
    service,
    prefix,
    host,
    strip,
    settings(check, route, "", defaults),
    where,
    options,
  );
  return instanceHeader === undefined ? resolved : { ...resolved, instanceHeader };
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

function routeOf(
  name: string,
  service: string,
  prefix: string | undefined,
  host: string | undefined,
  strip: boolean,
  s: RouteDefaults,
  where: string,
  options: ResolveOptions,
): Route {
  const policies = buildPolicies(s.policyBlocks, where, { ...options.policies, baseDir: options.baseDir });
  return {
    name,
    service,
    prefix,
    host,
    strip,
    timeout: s.timeout,
    retry: s.retry,
    hedge: s.hedge,
    maxBody: s.maxBody,
    durable: s.durable,
    policies,
  };
}

function nameOf(raw: unknown): string | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const name = (raw as { name?: unknown }).name;
  return typeof name === "string" && NAME_RE.test(name) ? name : undefined;
}

function assertUniqueNames(routes: readonly Route[], source: string): void {
  const seen = new Map<string, number>();
  routes.forEach((route, i) => {
    const first = seen.get(route.name);
    if (first !== undefined) {
      throw new ConfigCheck(`${source}: routes[${i}] (name '${route.name}')`).fail(
        `name '${route.name}' is already used by routes[${first}]; give each route its own name`,
      );
    }
    seen.set(route.name, i);
  });
}

function settings(
  check: ConfigCheck,
  raw: unknown,
  label: string,
  base: RouteDefaults | undefined,
): RouteDefaults {
  const s =
    raw === undefined
      ? {}
      : label
        ? check.mapping(raw, label.slice(0, -1), SETTING_KEYS)
        : (raw as Record<string, unknown>);
  const timeout = check.integer(s.timeout, `${label}timeout`, 0) ?? base?.timeout ?? ROUTE_DEFAULTS.timeout;
  let maxBody = base?.maxBody ?? ROUTE_DEFAULTS.maxBody;
  if (s.maxBody !== undefined) {
    const size = parseSize(s.maxBody);
    if (size === undefined || size < 1)
      check.fail(
        `${label}maxBody must be a size such as 65536, '64kb' or '1mb' (got ${describe(s.maxBody)})`,
      );
    maxBody = size;
  }
  const pick = (key: "cors" | "rateLimit" | "auth"): unknown =>
    Object.hasOwn(s, key) ? (s[key] ?? undefined) : base?.policyBlocks[key];
  return {
    timeout,
    maxBody,
    durable: check.boolean(s.durable, `${label}durable`) ?? base?.durable ?? false,
    retry: retry(check, s.retry, `${label}retry`, base?.retry ?? ROUTE_DEFAULTS.retry),
    hedge: Object.hasOwn(s, "hedge") ? hedge(check, s.hedge, `${label}hedge`) : base?.hedge,
    policyBlocks: { cors: pick("cors"), rateLimit: pick("rateLimit"), auth: pick("auth") },
  };
}

function retry(check: ConfigCheck, raw: unknown, field: string, base: RetryPolicy): RetryPolicy {
  if (raw === undefined) return base;
  if (raw === false) return NO_RETRY;
  const r = check.mapping(raw, field, RETRY_KEYS);
  const policy = {
    attempts: check.integer(r.attempts, `${field}.attempts`, 1) ?? base.attempts,
    backoffMs: check.integer(r.backoffMs, `${field}.backoffMs`, 0) ?? base.backoffMs,
    maxBackoffMs: check.integer(r.maxBackoffMs, `${field}.maxBackoffMs`, 0) ?? base.maxBackoffMs,
  };
  if (policy.attempts > 10) check.fail(`${field}.attempts must be at most 10 (got ${policy.attempts})`);
  if (policy.maxBackoffMs < policy.backoffMs)
    check.fail(
      `${field}.maxBackoffMs (${policy.maxBackoffMs}) must not be below backoffMs (${policy.backoffMs})`,
    );
  return policy;
}

function hedge(check: ConfigCheck, raw: unknown, field: string): HedgeSettings | undefined {
  if (raw === undefined || raw === null || raw === false) return undefined;
  const h = check.mapping(raw, field, HEDGE_KEYS);
  const out: { -readonly [K in (typeof HEDGE_KEYS)[number]]?: number } = {};
  for (const key of HEDGE_KEYS) {
    const v = h[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v))
      check.fail(`${field}.${key} must be a number (got ${describe(v)})`);
    out[key] = v;
  }
  try {
    hedgePolicy(out);
    hedgeBudgetPolicy(out);
  } catch (err) {
    check.fail((err as Error).message.replaceAll("hedge.", `${field}.`));
  }
  return out;
}

function routePrefix(check: ConfigCheck, raw: unknown): string | undefined {
  const prefix = check.string(raw, "prefix");
  if (prefix === undefined) return undefined;
  if (!PREFIX_RE.test(prefix))
    check.fail(`prefix must be a path starting with '/', without spaces, '?' or '#' (got '${prefix}')`);
  return prefix.length > 1 ? prefix.replace(/\/+$/, "") || "/" : prefix;
}

function routeHost(check: ConfigCheck, raw: unknown): string | undefined {
  const host = check.string(raw, "host")?.toLowerCase();
  if (host !== undefined && !HOST_RE.test(host))
    check.fail(
      `host must be a host name such as 'api.example.com' or '*.example.com', without a port (got '${host}')`,
    );
  return host;
}

function hostPort(check: ConfigCheck, raw: unknown, field: string): HostPort {
  const text = check.string(raw, field);
  const parsed = text === undefined ? undefined : parseHostPort(text);
  if (!parsed) check.fail(`${field} must be HOST:PORT, e.g. 127.0.0.1:8080 (got ${describe(raw)})`);
  return parsed;
}

function tlsFiles(check: ConfigCheck, raw: unknown, baseDir: string): ResolvedConfig["tls"] {
  if (raw === undefined) return undefined;
  const tls = check.mapping(raw, "tls", ["cert", "key"]);
  const cert = check.string(tls.cert, "tls.cert");
  const key = check.string(tls.key, "tls.key");
  if (cert === undefined || key === undefined) check.fail("tls needs both 'cert' and 'key' files");
  return { cert: resolve(baseDir, cert), key: resolve(baseDir, key) };
}

function trustedProxies(check: ConfigCheck, raw: unknown): string[] {
  const list = check.list(raw, "trustedProxies") ?? [];
  return list.map((entry, i) => {
    const field = `trustedProxies[${i}]`;
    if (typeof entry !== "string")
      check.fail(`${field} must be an IP address or CIDR (got ${describe(entry)})`);
    const [ip = "", bits, extra] = entry.split("/");
    const family = isIP(ip);
    const max = family === 6 ? 128 : 32;
    const ok =
      family !== 0 &&
      extra === undefined &&
      (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
    if (!ok) check.fail(`${field} must be an IP address or CIDR such as 10.0.0.0/8 (got '${entry}')`);
    return entry;
  });
}

function breaker(check: ConfigCheck, raw: unknown): BreakerSettings | undefined {
  if (raw === undefined || raw === false) return undefined;
  const b = check.mapping(raw, "breaker", BREAKER_KEYS);
  const out: { -readonly [K in (typeof BREAKER_KEYS)[number]]?: number } = {};
  for (const key of ["minimumCalls", "windowMs", "openMs", "probes"] as const) {
    const v = check.integer(b[key], `breaker.${key}`, 1);
    if (v !== undefined) out[key] = v;
  }
  if (b.failureRatio !== undefined) {
    const r = b.failureRatio;
    if (typeof r !== "number" || !(r > 0 && r <= 1))
      check.fail(`breaker.failureRatio must be a number above 0 and at most 1, got ${JSON.stringify(r)}`);
    out.failureRatio = r;
  }
  return out;
}

function eject(check: ConfigCheck, raw: unknown): false | EjectSettings {
  if (raw === false) return false;
  if (raw === undefined || raw === true) return {};
  const e = check.mapping(raw, "eject", ["silentIntervals", "maxMs"]);
  const out: EjectSettings = {};
  if (e.silentIntervals !== undefined) {
    const v = e.silentIntervals;
    if (typeof v !== "number" || !(Number.isFinite(v) && v >= 1))
      check.fail(`eject.silentIntervals must be a number ≥ 1, got ${JSON.stringify(v)}`);
    out.silentIntervals = v;
  }
  const maxMs = check.integer(e.maxMs, "eject.maxMs", 1);
  if (maxMs !== undefined) out.maxMs = maxMs;
  return out;
}

function limits(check: ConfigCheck, raw: unknown): Limits {
  const l = raw === undefined ? {} : check.mapping(raw, "limits", Object.keys(LIMIT_DEFAULTS));
  const out = { ...LIMIT_DEFAULTS } as Limits;
  for (const key of Object.keys(LIMIT_DEFAULTS) as (keyof Limits)[]) {
    const min = key === "keepAliveTimeout" || key === "shutdownTimeout" || key === "drainDelay" ? 0 : 1;
    out[key] = check.integer(l[key], `limits.${key}`, min) ?? out[key];
  }
  if (out.requestTimeout < out.headersTimeout)
    check.fail(
      `limits.requestTimeout (${out.requestTimeout}) must not be below limits.headersTimeout (${out.headersTimeout})`,
    );
  return out;
}
