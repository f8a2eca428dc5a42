/**
 * Insight: a live picture of the mesh. Every `serve()` instance publishes a compact report on
 * `$NM.REPORT.<service>.<instance>` each second; `createInsight()` aggregates them into per service,
 * method and instance figures (rates, p50/p99, errors, saturation) and the capacity signal.
 *
 * @example
 * ```ts
 * import { createInsight } from "natsmesh/insight";
 * const insight = createInsight(nc);
 * insight.onUpdate((view) => console.table(view.services.map((s) => ({ s: s.service, rps: s.rate }))));
 * ```
 *
 * @module
 */
export { createInsight, type HistoryPoint, type InsightOptions, type MeshInsight } from "./aggregator.js";
export {
  CALLERS_PREFIX,
  type CalledCounters,
  type CallerReport,
  CallerReportError,
  type CallerReporter,
  type CallerReporterSettings,
  callerReportSubject,
  parseCallerReport,
  startCallerReporter,
} from "./caller-report.js";
export type { CallerCounts, CallerRates } from "./callers.js";
export type { TrafficFigures } from "./figures.js";
export { CAPACITY_METRICS, registerCapacityMetrics } from "./prometheus.js";
export { histogramQuantile } from "./quantile.js";
export {
  DEFAULT_REPORT_INTERVAL,
  type InstanceReport,
  type MethodCounters,
  parseReport,
  REPORT_PREFIX,
  ReportError,
  reportSubject,
} from "./report.js";
export {
  type InstanceView,
  instancesNeeded,
  type MeshView,
  type RouteView,
  type ServiceView,
} from "./view.js";
