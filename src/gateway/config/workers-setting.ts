/**
 * How many gateway worker processes to run: a count, or `auto` for one per available CPU.
 *
 * @module
 */
import { availableParallelism } from "node:os";

/**
 * A worker count as written: a whole number ≥ 1, or `"auto"` (one per available CPU).
 *
 * @example
 * ```ts
 * createGatewayCluster({ workers: "auto" }); // one per available CPU, or a whole number
 * ```
 */
export type WorkersSetting = number | "auto";

/** Most worker processes accepted: a bound against typos such as `--workers 1000`. */
export const MAX_WORKERS = 256;

/** What a bad worker count is told, after its name. */
export const WORKERS_EXPECTED = `a whole number from 1 to ${MAX_WORKERS}, or 'auto'`;

/**
 * Reads a worker count: a whole number from 1 to {@link MAX_WORKERS}, its decimal text (a CLI
 * flag), or `auto`, which is `os.availableParallelism()`.
 *
 * @param value - the untyped setting
 * @returns the number of workers, or `undefined` when `value` is not a worker count
 * @example
 * ```ts
 * parseWorkers(2);       // 2
 * parseWorkers("auto");  // os.availableParallelism(), e.g. 8
 * parseWorkers("zero");  // undefined
 * ```
 */
export function parseWorkers(value: unknown): number | undefined {
  if (value === "auto") return Math.min(availableParallelism(), MAX_WORKERS);
  const n = typeof value === "string" && /^\d{1,4}$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS ? n : undefined;
}
