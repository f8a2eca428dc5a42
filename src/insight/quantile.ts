/**
 * A quantile of a bucketed histogram, interpolated linearly inside its bucket as Prometheus's
 * `histogram_quantile` does. Pure.
 *
 * @param q - the quantile, 0 to 1
 * @param bounds - bucket upper bounds, increasing
 * @param counts - observations per bucket (not cumulative): one per bound, then the overflow
 * @returns the estimate (the last bound when it falls in the overflow), or `null` without observations
 * @example
 * ```ts
 * histogramQuantile(0.5, [0.1, 0.2], [0, 10, 0]); // 0.15
 * ```
 */
export function histogramQuantile(
  q: number,
  bounds: readonly number[],
  counts: readonly number[],
): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let b = 0; b < counts.length; b++) {
    const c = counts[b]!;
    if (below + c >= rank && c > 0) {
      if (b >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = b === 0 ? 0 : bounds[b - 1]!;
      return lower + (bounds[b]! - lower) * ((rank - below) / c);
    }
    below += c;
  }
  return bounds[bounds.length - 1] ?? null;
}
