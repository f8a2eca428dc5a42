/**
 * The aggregator: subscribes to every instance's insight reports and keeps, per instance, the
 * reports of a bounded window; per service, a bounded history of figures for charts. Whoever shows
 * the mesh (the gateway's admin port, `natsmesh dashboard`, `natsmesh top`) runs one.
 *
 * @module
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import type { Logger } from "pino";
import { CALLERS_WILDCARD, type CallerReport, parseCallerReport } from "./caller-report.js";
import { type CallerRates, CallerWindow } from "./callers.js";
import { addCounts, countsBetween, emptyCounts, figuresOf, type WindowCounts } from "./figures.js";
import { type InstanceReport, parseReport, REPORT_WILDCARD } from "./report.js";
import {
  type InstanceView,
  instancesNeeded,
  type MeshView,
  type RouteView,
  type ServiceView,
} from "./view.js";

/**
 * Options of {@link createInsight}.
 *
 * @example
 * ```ts
 * const insight = createInsight(nc, { window: 30, target: 0.6, history: 600, tick: 1_000, missed: 3 });
 * ```
 */
export interface InsightOptions {
  /** Seconds the figures are computed over (default 10). */
  window?: number;
  /** Target utilisation of the capacity signal, in (0, 1] (default 0.7). */
  target?: number;
  /** Points of chart history kept per service, one per tick (default 300: five minutes). */
  history?: number;
  /** Milliseconds between two updates (default 1000). */
  tick?: number;
  /** An instance is forgotten after this many of its intervals without a report (default 3). */
  missed?: number;
  /** Instances tracked at most (default 10 000); reports of more are dropped. */
  maxInstances?: number;
  /** Callers tracked at most (default 1000); reports of more are dropped. */
  maxCallers?: number;
  /** Where bad reports are logged (debug). */
  logger?: Logger;
}

/**
 * One point of a service's chart history.
 *
 * @example
 * ```ts
 * for (const p of insight.history().orders ?? []) console.log(new Date(p.t), p.rate, p.p99, p.instances);
 * ```
 */
export interface HistoryPoint {
  /** ms since the epoch. */
  t: number;
  /** Requests answered per second over the window ({@link TrafficFigures.rate}). */
  rate: number;
  /** Answers with status ≥ 500 per second over the window. */
  errorRate: number;
  /** Median answer time in seconds, `null` without answers in the window. */
  p50: number | null;
  /** 99th percentile answer time in seconds, `null` without answers in the window. */
  p99: number | null;
  /** Σ in-flight ÷ Σ concurrency limit of the service's instances. */
  saturation: number;
  /** Instances of the service reporting. */
  instances: number;
}

interface Sample {
  /** Arrival, `performance.now()` ms. */
  t: number;
  report: InstanceReport;
}

interface Tracked {
  samples: Sample[];
  /** Deadline (performance.now ms) after which the instance is forgotten. */
  expires: number;
}

/** One caller's reports, as a window of its cumulative counts. */
interface TrackedCaller {
  started: string;
  window: CallerWindow;
  /** Deadline (performance.now ms) after which the caller is forgotten. */
  expires: number;
}

/**
 * A running aggregator.
 *
 * @example
 * ```ts
 * using insight = createInsight(nc);
 * const stop = insight.onUpdate((view) => {
 *   for (const s of view.services) console.log(s.service, s.rate.toFixed(1), `${Math.round(s.saturation * 100)}%`, s.needed);
 * });
 * ```
 */
export interface MeshInsight {
  /** The picture now. */
  view(): MeshView;
  /** The chart history of every service (oldest first). */
  history(): Record<string, HistoryPoint[]>;
  /**
   * Calls `listener` after each tick with the new picture.
   *
   * @returns a function that removes the listener
   */
  onUpdate(listener: (view: MeshView) => void): () => void;
  /** Reports that were not valid and were dropped. */
  readonly rejected: number;
  /** Stops: unsubscribes and clears the timer. */
  close(): void;
  /** {@link MeshInsight.close}, for `using`. */
  [Symbol.dispose](): void;
}

const key = (service: string, id: string) => `${service}\u0000${id}`;

class InsightImpl implements MeshInsight {
  readonly #sub: Subscription;
  readonly #callerSub: Subscription;
  readonly #timer: NodeJS.Timeout;
  readonly #windowMs: number;
  readonly #target: number;
  readonly #historySize: number;
  readonly #missed: number;
  readonly #maxInstances: number;
  readonly #instances = new Map<string, Tracked>();
  readonly #history = new Map<string, HistoryPoint[]>();
  readonly #listeners = new Set<(view: MeshView) => void>();
  readonly #log: Logger | undefined;
  readonly #maxCallers: number;
  readonly #callers = new Map<string, TrackedCaller>();
  #rejected = 0;
  #last: MeshView;

  constructor(
    nc: NatsConnection,
    o: Required<Omit<InsightOptions, "logger">> & Pick<InsightOptions, "logger">,
  ) {
    this.#windowMs = o.window * 1000;
    this.#maxCallers = o.maxCallers;
    this.#target = o.target;
    this.#historySize = o.history;
    this.#missed = o.missed;
    this.#maxInstances = o.maxInstances;
    this.#log = o.logger;
    this.#last = { at: Date.now(), window: o.window, target: o.target, services: [] };
    this.#sub = nc.subscribe(REPORT_WILDCARD, {
      callback: (err, msg) => {
        if (err) return;
        this.#take(msg.string());
      },
    });
    this.#callerSub = nc.subscribe(CALLERS_WILDCARD, {
      callback: (err, msg) => {
        if (err) return;
        this.#takeCaller(msg.string());
      },
    });
    this.#timer = setInterval(() => this.#tick(), o.tick);
    this.#timer.unref();
  }

  get rejected(): number {
    return this.#rejected;
  }

  #take(text: string): void {
    let report: InstanceReport;
    try {
      report = parseReport(text);
    } catch (err) {
      this.#rejected++;
      this.#log?.debug({ err }, "insight report dropped");
      return;
    }
    const k = key(report.service, report.id);
    if (report.bye) {
      this.#instances.delete(k);
      return;
    }
    const now = performance.now();
    let tracked = this.#instances.get(k);
    if (!tracked) {
      if (this.#instances.size >= this.#maxInstances) {
        this.#rejected++;
        return;
      }
      tracked = { samples: [], expires: 0 };
      this.#instances.set(k, tracked);
    }
    const previous = tracked.samples.at(-1);
    // A restart under the same id starts its counters again.
    if (previous && previous.report.started !== report.started) tracked.samples.length = 0;
    tracked.samples.push({ t: now, report });
    tracked.expires = now + this.#missed * report.interval + 250;
    // Keep one sample older than the window, the base of its differences.
    const from = now - this.#windowMs;
    let drop = 0;
    while (drop + 1 < tracked.samples.length && tracked.samples[drop + 1]!.t <= from) drop++;
    if (drop > 0) tracked.samples.splice(0, drop);
  }

  #takeCaller(text: string): void {
    let report: CallerReport;
    try {
      report = parseCallerReport(text);
    } catch (err) {
      this.#rejected++;
      this.#log?.debug({ err }, "callers' report dropped");
      return;
    }
    if (report.bye) {
      this.#callers.delete(report.caller);
      return;
    }
    const now = performance.now();
    let tracked = this.#callers.get(report.caller);
    // A restart under the same id starts its counters again.
    if (tracked && tracked.started !== report.started) tracked = undefined;
    if (!tracked) {
      if (!this.#callers.has(report.caller) && this.#callers.size >= this.#maxCallers) {
        this.#rejected++;
        return;
      }
      tracked = { started: report.started, window: new CallerWindow(this.#windowMs), expires: 0 };
      this.#callers.set(report.caller, tracked);
    }
    tracked.window.add(
      Object.entries(report.services).map(([service, c]) => ({
        service,
        calls: c.n,
        noResponders: c.nr,
        timeouts: c.to,
      })),
      now,
    );
    tracked.expires = now + this.#missed * report.interval + 250;
  }

  /** The callers' rates per service, summed over the callers. */
  #callerRates(): Map<string, CallerRates> {
    const out = new Map<string, CallerRates>();
    for (const tracked of this.#callers.values()) {
      for (const [service, r] of tracked.window.rates()) {
        const sum = out.get(service) ?? { noResponderRate: 0, callerTimeoutRate: 0 };
        sum.noResponderRate += r.noResponderRate;
        sum.callerTimeoutRate += r.callerTimeoutRate;
        out.set(service, sum);
      }
    }
    return out;
  }

  #tick(): void {
    const now = performance.now();
    for (const [k, tracked] of this.#instances) if (tracked.expires < now) this.#instances.delete(k);
    for (const [k, tracked] of this.#callers) if (tracked.expires < now) this.#callers.delete(k);
    const view = this.#compute(now);
    this.#last = view;
    const present = new Set<string>();
    for (const s of view.services) {
      present.add(s.service);
      let points = this.#history.get(s.service);
      if (!points) {
        points = [];
        this.#history.set(s.service, points);
      }
      points.push({
        t: view.at,
        rate: s.rate,
        errorRate: s.errorRate,
        p50: s.p50,
        p99: s.p99,
        saturation: s.saturation,
        instances: s.instances.length,
      });
      if (points.length > this.#historySize) points.splice(0, points.length - this.#historySize);
    }
    for (const service of this.#history.keys()) if (!present.has(service)) this.#history.delete(service);
    for (const listener of this.#listeners) {
      try {
        listener(view);
      } catch (err) {
        this.#log?.warn({ err }, "insight listener failed");
      }
    }
  }

  #compute(now: number): MeshView {
    const wall = Date.now();
    const byService = new Map<
      string,
      { instances: InstanceView[]; counts: WindowCounts | undefined; routes: Map<string, WindowCounts> }
    >();
    for (const tracked of this.#instances.values()) {
      const newest = tracked.samples.at(-1)!;
      const oldest = tracked.samples[0]!;
      const r = newest.report;
      const seconds = (newest.t - oldest.t) / 1000;
      const counts = seconds > 0 ? countsBetween(oldest.report, r, seconds) : emptyCounts(0, r.bounds);
      // In-flight: the mean concurrency of the last report interval (busy time ÷ time, Little's law),
      // the most current figure; never under what stayed running (or queued) at both of its reports —
      // a handler that never finishes adds no busy time until it does.
      const previous = tracked.samples.at(-2);
      let inFlight = r.inFlight + r.queued;
      if (previous) {
        const lastSeconds = (newest.t - previous.t) / 1000;
        const busy = lastSeconds > 0 ? Math.max(0, r.busy - previous.report.busy) / 1000 / lastSeconds : 0;
        inFlight = Math.max(busy, Math.min(inFlight, previous.report.inFlight + previous.report.queued));
      }
      let entry = byService.get(r.service);
      if (!entry) {
        entry = { instances: [], counts: undefined, routes: new Map() };
        byService.set(r.service, entry);
      }
      entry.counts ??= emptyCounts(0, r.bounds);
      addCounts(entry.counts, counts);
      for (const method of Object.keys(r.methods)) {
        const c = seconds > 0 ? countsBetween(oldest.report, r, seconds, method) : emptyCounts(0, r.bounds);
        let route = entry.routes.get(method);
        if (!route) {
          route = emptyCounts(0, r.bounds);
          entry.routes.set(method, route);
        }
        addCounts(route, c);
      }
      entry.instances.push({
        id: r.id,
        version: r.version,
        server: r.server.name,
        cluster: r.server.cluster ?? "",
        uptime: Math.max(0, (wall - Date.parse(r.started)) / 1000),
        ...figuresOf(counts),
        inFlight,
        queued: r.queued,
        limit: r.limit,
        saturation: r.limit > 0 ? inFlight / r.limit : 0,
        out: r.out,
        age: (now - newest.t) / 1000,
      });
    }
    const callers = this.#callerRates();
    // A service its callers miss but no instance reports: the one that most needs an instance.
    for (const service of callers.keys()) {
      if (!byService.has(service))
        byService.set(service, { instances: [], counts: undefined, routes: new Map() });
    }
    const services: ServiceView[] = [];
    for (const [service, entry] of byService) {
      const instances = entry.instances.sort((a, b) => a.id.localeCompare(b.id));
      let rate = 0;
      let errorRate = 0;
      let timeoutRate = 0;
      let inFlight = 0;
      let limit = 0;
      for (const i of instances) {
        rate += i.rate;
        errorRate += i.errorRate;
        timeoutRate += i.timeoutRate;
        inFlight += i.inFlight;
        limit += i.limit;
      }
      const quantiles = entry.counts ? figuresOf(entry.counts) : { p50: null, p99: null };
      const missed = callers.get(service) ?? { noResponderRate: 0, callerTimeoutRate: 0 };
      const routes: RouteView[] = [...entry.routes].map(([method, c]) => ({ method, ...figuresOf(c) }));
      routes.sort((a, b) => a.method.localeCompare(b.method));
      services.push({
        service,
        instances,
        routes,
        versions: [...new Set(instances.map((i) => i.version))].sort(),
        rate,
        errorRate,
        timeoutRate,
        p50: quantiles.p50,
        p99: quantiles.p99,
        inFlight,
        limit,
        saturation: limit > 0 ? inFlight / limit : 0,
        needed:
          instances.length === 0
            ? missed.noResponderRate > 0
              ? 1
              : 0
            : instancesNeeded(inFlight, limit / instances.length, this.#target),
        ...missed,
      });
    }
    services.sort((a, b) => a.service.localeCompare(b.service));
    return { at: wall, window: this.#windowMs / 1000, target: this.#target, services };
  }

  view(): MeshView {
    return this.#last;
  }

  history(): Record<string, HistoryPoint[]> {
    return Object.fromEntries([...this.#history].map(([s, points]) => [s, [...points]]));
  }

  onUpdate(listener: (view: MeshView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#sub.unsubscribe();
    this.#callerSub.unsubscribe();
    this.#listeners.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function check(name: string, value: number, ok: boolean): number {
  if (!ok) throw new RangeError(`insight ${name}: got ${value}`);
  return value;
}

/**
 * Starts an aggregator on a connection: it subscribes `$NM.REPORT.>` (instances) and `$NM.CALLERS.>`
 * (callers' no-responders and timeouts, summed over callers) and, every `tick` ms, forgets instances
 * and callers that stopped reporting (three intervals by default, at once on their `bye`), computes
 * the {@link MeshView} and calls the listeners.
 *
 * @param nc - a connection (the aggregator only subscribes)
 * @param options - window, target utilisation, history, tick
 * @returns the running aggregator
 * @throws RangeError for a window or tick < 1, a target outside (0, 1], a history or missed < 1
 * @example
 * ```ts
 * const insight = createInsight(nc, { target: 0.7 });
 * insight.onUpdate((view) => console.log(view.services.map((s) => [s.service, s.rate])));
 * ```
 */
export function createInsight(nc: NatsConnection, options: InsightOptions = {}): MeshInsight {
  const {
    window = 10,
    target = 0.7,
    history = 300,
    tick = 1000,
    missed = 3,
    maxInstances = 10_000,
    maxCallers = 1000,
    logger,
  } = options;
  check("window (s) must be ≥ 1", window, Number.isFinite(window) && window >= 1);
  check("target must be in (0, 1]", target, target > 0 && target <= 1);
  check("history must be an integer ≥ 1", history, Number.isInteger(history) && history >= 1);
  check("tick (ms) must be ≥ 1", tick, Number.isFinite(tick) && tick >= 1);
  check("missed must be ≥ 1", missed, Number.isFinite(missed) && missed >= 1);
  check("maxInstances must be ≥ 1", maxInstances, Number.isInteger(maxInstances) && maxInstances >= 1);
  check("maxCallers must be ≥ 1", maxCallers, Number.isInteger(maxCallers) && maxCallers >= 1);
  return new InsightImpl(nc, {
    window,
    target,
    history,
    tick,
    missed,
    maxInstances,
    maxCallers,
    ...(logger ? { logger } : {}),
  });
}
