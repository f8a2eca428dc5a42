/**
 * Outlier ejection: a caller's watch on the instances' insight reports (the gateway's by default, a
 * client's with `eject`). An instance that stopped reporting (a frozen process keeps its NATS
 * connection and its place in the queue group) while others of its service still report is
 * suspect; until it reports again, the caller sends that service's requests to the healthy
 * instances' `$I` subjects, round robin, instead of the queue group (docs/TRAFFIC.md, "Outlier
 * ejection").
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { Gauge, type Registry } from "prom-client";
import { NoRespondersError, PermissionDeniedError } from "../protocol/index.js";
import { type InstanceReport, parseReport, REPORT_PREFIX, REPORT_WILDCARD } from "./report.js";

/**
 * Settings of outlier ejection (docs/TRAFFIC.md §10): the gateway's `eject`, a client's `eject`.
 *
 * @example
 * ```ts
 * const gateway = createGateway({ eject: { silentIntervals: 3, maxMs: 30_000 } });
 * const fetch = createFetch({ eject: { silentIntervals: 3 } });
 * ```
 */
export interface EjectSettings {
  /** Report intervals without a report after which an instance is suspect (default 2.5, ≥ 1). */
  silentIntervals?: number;
  /** Milliseconds a silent instance is routed around at most; then it is forgotten (default 60000). */
  maxMs?: number;
}

/**
 * Which reports a {@link SilentInstances} watches: `all` subscribes every service's (`$NM.REPORT.>`,
 * the gateway, which may call any service), `called` each service's own from its first
 * {@link SilentInstances.pick} on (a client, which calls a few).
 */
export type ReportScope = "all" | "called";

/** Name of the gauge of suspect instances per service (each gateway worker has its own, the same). */
export const GATEWAY_SUSPECT_GAUGE = "natsmesh_gateway_suspect_instances";

/** Default {@link EjectSettings.silentIntervals}. */
export const DEFAULT_SILENT_INTERVALS = 2.5;
/** Default {@link EjectSettings.maxMs}. */
export const DEFAULT_EJECT_MAX_MS = 60_000;
/** Instances tracked at most (reports beyond are ignored): a bound on what peers can make a caller keep. */
const MAX_INSTANCES = 10_000;
/** Services whose reports a `called` watch subscribes at most. */
const MAX_WATCHED_SERVICES = 1000;
/** How long a service's choice (suspects and healthy instances) is reused before it is computed again. */
const REFRESH_MS = 100;

/**
 * Checks ejection settings and fills in the defaults.
 *
 * @param settings - as given
 * @returns the settings with their defaults
 * @throws RangeError for a `silentIntervals` below 1 or a `maxMs` below 1
 * @example
 * ```ts
 * checkEjectSettings({}); // { silentIntervals: 2.5, maxMs: 60000 }
 * ```
 */
export function checkEjectSettings(settings: EjectSettings): Required<EjectSettings> {
  const { silentIntervals = DEFAULT_SILENT_INTERVALS, maxMs = DEFAULT_EJECT_MAX_MS } = settings;
  if (!(typeof silentIntervals === "number" && Number.isFinite(silentIntervals) && silentIntervals >= 1))
    throw new RangeError(`eject.silentIntervals must be a number ≥ 1, got ${String(silentIntervals)}`);
  if (!(typeof maxMs === "number" && Number.isFinite(maxMs) && maxMs >= 1))
    throw new RangeError(`eject.maxMs must be a number ≥ 1, got ${String(maxMs)}`);
  return { silentIntervals, maxMs };
}

interface Seen {
  /** performance.now() of the last report. */
  at: number;
  interval: number;
  out: boolean;
}

interface Choice {
  until: number;
  /** Instances to route to, when any instance is suspect; empty for the queue group. */
  healthy: string[];
  suspects: number;
  next: number;
}

/**
 * Tracks the instances of every service from their reports and tells the request path where to
 * send a request: `undefined` for the queue group, or the id of a healthy instance to name.
 *
 * @example
 * ```ts
 * const silent = new SilentInstances(nc, "mesh", {});
 * const id = silent.pick("billing"); // undefined: the queue group; else route to `$I.<id>`
 * ```
 */
export class SilentInstances {
  readonly #services = new Map<string, Map<string, Seen>>();
  readonly #choices = new Map<string, Choice>();
  readonly #nc: NatsConnection;
  readonly #subs: Subscription[] = [];
  /** With scope `called`: the services whose reports are subscribed. */
  readonly #watched: Set<string> | undefined;
  readonly #prefix: string;
  readonly #silent: number;
  readonly #max: number;
  #count = 0;
  /** A publish to an instance's `$I` subject was refused: nothing is routed by name any more. */
  #refused = false;

  /**
   * @param nc - the caller's connection (only subscribes insight reports)
   * @param prefix - the caller's subject prefix: reports of instances under another are ignored
   * @param settings - silence threshold and cap
   * @param scope - every service's reports (default), or only those of the services called
   * @throws RangeError for a `silentIntervals` below 1 or a `maxMs` below 1
   * @example
   * ```ts
   * new SilentInstances(nc, "mesh", { silentIntervals: 3 });
   * ```
   */
  constructor(nc: NatsConnection, prefix: string, settings: EjectSettings, scope: ReportScope = "all") {
    const { silentIntervals, maxMs } = checkEjectSettings(settings);
    this.#nc = nc;
    this.#prefix = prefix;
    this.#silent = silentIntervals;
    this.#max = maxMs;
    if (scope === "called") this.#watched = new Set();
    else this.#watch(REPORT_WILDCARD);
  }

  #watch(subject: string): void {
    this.#subs.push(
      this.#nc.subscribe(subject, {
        callback: (err, msg) => {
          if (!err) this.#read(msg);
        },
      }),
    );
  }

  #read(msg: Msg): void {
    let report: InstanceReport;
    try {
      report = parseReport(msg.string());
    } catch {
      return; // not a report this version reads: the aggregator counts those
    }
    this.#seen(report);
  }

  #seen(r: InstanceReport): void {
    if (r.prefix !== this.#prefix) return;
    let instances = this.#services.get(r.service);
    if (r.bye) {
      if (instances?.delete(r.id)) {
        this.#count--;
        this.#choices.delete(r.service);
      }
      return;
    }
    if (!instances) {
      if (this.#count >= MAX_INSTANCES) return;
      instances = new Map();
      this.#services.set(r.service, instances);
    }
    const seen = instances.get(r.id);
    if (seen === undefined) {
      if (this.#count >= MAX_INSTANCES) return;
      this.#count++;
      instances.set(r.id, { at: performance.now(), interval: r.interval, out: r.out });
      this.#choices.delete(r.service);
      return;
    }
    const wasSilent = performance.now() - seen.at > this.#silent * seen.interval;
    seen.at = performance.now();
    seen.interval = r.interval;
    if (seen.out !== r.out || wasSilent) this.#choices.delete(r.service);
    seen.out = r.out;
  }

  #choose(service: string, now: number): Choice {
    const instances = this.#services.get(service);
    const choice: Choice = { until: now + REFRESH_MS, healthy: [], suspects: 0, next: 0 };
    if (!instances) return choice;
    let reporting = 0;
    for (const [id, seen] of instances) {
      const age = now - seen.at;
      if (age > this.#max) {
        // Silent past the cap: forgotten, and the queue group is trusted again.
        instances.delete(id);
        this.#count--;
      } else if (age > this.#silent * seen.interval) {
        choice.suspects++;
      } else {
        reporting++;
        if (!seen.out) choice.healthy.push(id);
      }
    }
    if (instances.size === 0) this.#services.delete(service);
    // Only while others still report: a service silent as a whole is the reports' problem, not one instance's.
    if (choice.suspects === 0 || reporting === 0) choice.healthy = [];
    return choice;
  }

  /**
   * Where to send a request of `service`: `undefined` for the queue group (no instance is suspect,
   * or no other is healthy), else the id of a healthy instance, round robin.
   *
   * @param service - the service name
   * @returns an instance id, or `undefined`
   * @example
   * ```ts
   * const id = silent.pick("billing");
   * ```
   */
  pick(service: string): string | undefined {
    const watched = this.#watched;
    if (watched !== undefined && !watched.has(service) && watched.size < MAX_WATCHED_SERVICES) {
      watched.add(service);
      this.#watch(`${REPORT_PREFIX}.${service}.*`);
    }
    const now = performance.now();
    let choice = this.#choices.get(service);
    if (choice === undefined || choice.until < now) {
      if (!this.#services.has(service)) return undefined;
      choice = this.#choose(service, now);
      this.#choices.set(service, choice);
    }
    if (choice.healthy.length === 0) return undefined;
    choice.next = (choice.next + 1) % choice.healthy.length;
    return choice.healthy[choice.next];
  }

  /**
   * Sends a request of `service` as {@link pick} says: to the queue group, or named to a healthy
   * instance while another is silent. A named instance that turns out gone (no responders) leaves
   * the rotation and the request goes to the queue group at once: the caller's choice, not the
   * user's, so the user never sees that 503. A publish the caller's NATS user may not make (it may
   * not name instances) goes to the queue group too, and from then on every request does.
   *
   * @param service - the service name
   * @param send - sends the request, to the instance named or (undefined) to the queue group
   * @param routed - told when the request is named to an instance (for a counter)
   * @returns what `send` returns
   * @example
   * ```ts
   * const res = await silent.route("billing", (instance) => callService(nc, "billing", req, { prefix, instance }));
   * ```
   */
  route<T>(
    service: string,
    send: (instance: string | undefined) => Promise<T>,
    routed?: () => void,
  ): Promise<T> {
    if (this.#refused) return send(undefined);
    const around = this.pick(service);
    if (around === undefined) return send(undefined);
    routed?.();
    return send(around).catch((err: unknown) => {
      if (
        err instanceof PermissionDeniedError &&
        err.operation === "publish" &&
        err.denied.includes(".$I.")
      ) {
        // The caller's user may publish to the queue subjects only: it cannot name instances.
        this.#refused = true;
      } else if (err instanceof NoRespondersError) {
        this.gone(service, around);
      } else {
        throw err;
      }
      return send(undefined);
    });
  }

  /**
   * The instance a request was named to had no responders: it is gone, out of the rotation until
   * it reports again.
   *
   * @param service - the service name
   * @param id - the instance id
   * @example
   * ```ts
   * silent.gone("billing", "a1");
   * ```
   */
  gone(service: string, id: string): void {
    if (this.#services.get(service)?.delete(id)) {
      this.#count--;
      this.#choices.delete(service);
    }
  }

  /**
   * The suspect instances of each service that has any, as of now.
   *
   * @returns service name → suspect instances
   * @example
   * ```ts
   * silent.suspects(); // Map { "billing" => 1 }
   * ```
   */
  suspects(): Map<string, number> {
    const now = performance.now();
    const out = new Map<string, number>();
    for (const service of [...this.#services.keys()]) {
      const choice = this.#choose(service, now);
      this.#choices.set(service, choice);
      if (choice.suspects > 0) out.set(service, choice.suspects);
    }
    return out;
  }

  /**
   * Registers `natsmesh_gateway_suspect_instances{service}`: instances silent while others of their
   * service report.
   *
   * @param registry - the gateway's registry
   * @example
   * ```ts
   * silent.register(metrics.registry);
   * ```
   */
  register(registry: Registry): void {
    const silent = this;
    new Gauge({
      name: GATEWAY_SUSPECT_GAUGE,
      help: "Instances silent (no insight report) while others of their service report: routed around",
      labelNames: ["service"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [service, n] of silent.suspects()) this.set({ service }, n);
      },
    });
  }

  /** Stops watching the reports. */
  close(): void {
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.length = 0;
  }
}
