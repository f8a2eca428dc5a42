/**
 * Figures over a window from two cumulative reports of one instance: rates, latency quantiles and
 * load. Pure.
 *
 * @module
 */
import { histogramQuantile } from "./quantile.js";
import type { InstanceReport, MethodCounters } from "./report.js";

/**
 * Traffic figures of a window: per second, and latency in seconds.
 *
 * @example
 * ```ts
 * const { rate, errorRate, timeoutRate, p50, p99 } = insight.view().services[0]!;
 * console.log(`${rate}/s, p99 ${p99 === null ? "-" : `${p99 * 1000} ms`}`);
 * ```
 */
export interface TrafficFigures {
  /** Requests answered per second. */
  rate: number;
  /** Answers with status ≥ 500 per second. */
  errorRate: number;
  /** Answers 504 (handler timeouts) per second. */
  timeoutRate: number;
  /** Median answer time in seconds, `null` without answers in the window. */
  p50: number | null;
  /** 99th percentile answer time in seconds, `null` without answers. */
  p99: number | null;
}

/** A window's counts before they become figures: what a service sums over its instances. */
export interface WindowCounts {
  seconds: number;
  n: number;
  err: number;
  to: number;
  bounds: readonly number[];
  h: number[];
}

/** Counts of one method (or of all, `method` undefined) between two reports. */
export function countsBetween(
  older: InstanceReport,
  newer: InstanceReport,
  seconds: number,
  method?: string,
): WindowCounts {
  const bounds = newer.bounds;
  const out: WindowCounts = { seconds, n: 0, err: 0, to: 0, bounds, h: new Array(bounds.length + 1).fill(0) };
  const sameBounds = older.bounds.length === bounds.length && older.bounds.every((b, i) => b === bounds[i]);
  const names = method === undefined ? Object.keys(newer.methods) : [method];
  for (const name of names) {
    const now = newer.methods[name];
    if (!now) continue;
    const before: MethodCounters | undefined = sameBounds ? older.methods[name] : undefined;
    out.n += Math.max(0, now.n - (before?.n ?? 0));
    out.err += Math.max(0, now.err - (before?.err ?? 0));
    out.to += Math.max(0, now.to - (before?.to ?? 0));
    for (let b = 0; b < out.h.length; b++) out.h[b]! += Math.max(0, now.h[b]! - (before?.h[b] ?? 0));
  }
  return out;
}

/** Adds `b`'s counts into `a` (same bounds; other bounds add their totals only); the window is the longer. */
export function addCounts(a: WindowCounts, b: WindowCounts): void {
  a.seconds = Math.max(a.seconds, b.seconds);
  a.n += b.n;
  a.err += b.err;
  a.to += b.to;
  if (a.h.length === b.h.length) for (let i = 0; i < a.h.length; i++) a.h[i]! += b.h[i]!;
}

/** An empty {@link WindowCounts} for the given bounds. */
export function emptyCounts(seconds: number, bounds: readonly number[]): WindowCounts {
  return { seconds, n: 0, err: 0, to: 0, bounds, h: new Array(bounds.length + 1).fill(0) };
}

/** Turns counts into per-second rates and quantiles. */
export function figuresOf(c: WindowCounts): TrafficFigures {
  const s = c.seconds > 0 ? c.seconds : 1;
  return {
    rate: c.n / s,
    errorRate: c.err / s,
    timeoutRate: c.to / s,
    p50: histogramQuantile(0.5, c.bounds, c.h),
    p99: histogramQuantile(0.99, c.bounds, c.h),
  };
}
