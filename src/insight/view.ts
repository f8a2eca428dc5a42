/**
 * The shape of the live picture an aggregator gives (JSON-ready: the dashboard's `/api/mesh`, `natsmesh
 * top --json`) and the capacity rule. Pure.
 *
 * @module
 */
import type { TrafficFigures } from "./figures.js";

/**
 * One instance, over the window.
 *
 * @example
 * ```ts
 * for (const i of insight.view().services.flatMap((s) => s.instances))
 *   console.log(i.id, i.version, i.server, `${Math.round(i.saturation * 100)}%`, i.out ? "out" : "in", `${i.age} s`);
 * ```
 */
export interface InstanceView extends TrafficFigures {
  /** Instance id (its `mesh-instance`). */
  id: string;
  /** Semantic version of the service it runs. */
  version: string;
  /** NATS server the instance is connected to. */
  server: string;
  /** That server's cluster, `""` when none. */
  cluster: string;
  /** Seconds since the instance started. */
  uptime: number;
  /** Mean requests running over the last report interval (busy time ÷ time), at least what stayed running or queued at both its reports. */
  inFlight: number;
  /** Requests waiting for a slot at the last report. */
  queued: number;
  /** The concurrency limit. */
  limit: number;
  /** `inFlight ÷ limit`. */
  saturation: number;
  /** Out of the queue group at the last report (saturated, lagging or stopping). */
  out: boolean;
  /** Seconds since the last report. */
  age: number;
}

/**
 * One method of a service (the instance knows no route template: the method is its route).
 *
 * @example
 * ```ts
 * for (const r of insight.view().services[0]?.routes ?? []) console.log(r.method, r.rate, r.p99);
 * ```
 */
export interface RouteView extends TrafficFigures {
  /** The HTTP method. */
  method: string;
}

/**
 * One service: its instances summed.
 *
 * @example
 * ```ts
 * const orders = insight.view().services.find((s) => s.service === "orders");
 * if (orders && orders.needed > orders.instances.length) console.warn(`orders needs ${orders.needed} instances`);
 * ```
 */
export interface ServiceView extends TrafficFigures {
  /** The natsmesh service name. */
  service: string;
  /** Its instances, sorted by id. */
  instances: InstanceView[];
  /** Its figures per method. */
  routes: RouteView[];
  /** Versions running, sorted. */
  versions: string[];
  /** Σ in-flight. */
  inFlight: number;
  /** Σ limit. */
  limit: number;
  /** Σ in-flight ÷ Σ limit. */
  saturation: number;
  /**
   * Instances needed for the target utilisation: `ceil(in-flight ÷ (mean limit × target))`; 1 for a
   * service without instances whose callers find no responders.
   */
  needed: number;
  /** Attempts per second that found no instance, as this aggregator's process saw them (the gateway's); 0 without. */
  noResponderRate: number;
  /** Requests per second its callers timed out on (504 at the gateway), as this process saw them. */
  callerTimeoutRate: number;
}

/**
 * The whole picture.
 *
 * @example
 * ```ts
 * const view: MeshView = insight.view();
 * console.log(new Date(view.at), `${view.window} s window`, view.services.length, "services");
 * ```
 */
export interface MeshView {
  /** When it was taken, ms since the epoch. */
  at: number;
  /** Seconds the figures are computed over. */
  window: number;
  /** The target utilisation of {@link ServiceView.needed}. */
  target: number;
  /** Every service known, sorted by name. */
  services: ServiceView[];
}

/**
 * The number of instances a service needs so that each runs at `target` of its limit: the rule of
 * the KEDA HTTP add-on, `ceil(in-flight ÷ (limit × target))`, with the mean limit of its instances.
 *
 * @param inFlight - requests running over every instance
 * @param limitPerInstance - the concurrency limit of one instance
 * @param target - the utilisation aimed at, in (0, 1]
 * @returns the instance count (0 when nothing runs)
 * @example
 * ```ts
 * instancesNeeded(150, 100, 0.5); // 3
 * ```
 */
export function instancesNeeded(inFlight: number, limitPerInstance: number, target: number): number {
  if (inFlight <= 0 || limitPerInstance <= 0) return 0;
  // A hair under an integer counts as it (floating point of a sum of means).
  return Math.ceil(inFlight / (limitPerInstance * target) - 1e-9);
}
