/** Nearest-rank percentile of unsorted samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function max(samples: readonly number[]): number {
  return samples.reduce((m, x) => (x > m ? x : m), -Infinity);
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Rounds for reports: 3 significant digits are plenty for timings. */
export function round(x: number, digits = 1): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Samples counted by value, each rounded to `step` (0.01 ms for latencies, 1 ms for staleness): a run of
 * hundreds of thousands of calls crosses IPC as a few hundred entries, and histograms of many processes add.
 */
export type Histogram = Record<string, number>;

export function record(histogram: Histogram, value: number, step: number): void {
  // toFixed drops the float noise of the multiplication (0.30000000000000004), so keys read as values.
  const key = String(Number((Math.round(value / step) * step).toFixed(6)));
  histogram[key] = (histogram[key] ?? 0) + 1;
}

export function merge(histograms: readonly Histogram[]): Histogram {
  const merged: Histogram = {};
  for (const h of histograms) for (const [key, n] of Object.entries(h)) merged[key] = (merged[key] ?? 0) + n;
  return merged;
}

export function count(histogram: Histogram): number {
  return Object.values(histogram).reduce((a, b) => a + b, 0);
}

/** Nearest-rank percentile of a histogram, as `percentile` is of samples; NaN for none. */
export function histogramPercentile(histogram: Histogram, p: number): number {
  const entries = Object.entries(histogram)
    .map(([key, n]) => [Number(key), n] as const)
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return NaN;
  const rank = Math.min(total, Math.max(1, Math.ceil((p / 100) * total)));
  let seen = 0;
  for (const [value, n] of entries) {
    seen += n;
    if (seen >= rank) return value;
  }
  return entries[entries.length - 1][0];
}

export function histogramMax(histogram: Histogram): number {
  return max(Object.keys(histogram).map(Number));
}
