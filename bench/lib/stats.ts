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
