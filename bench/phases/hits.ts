import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { median, percentile, round } from '../lib/stats';
import type { Strategy } from '../strategies/strategy';
import type { HitsRequest, HitsResult } from '../worker/hits';

export interface HitsRow {
  strategy: string;
  concurrency: number;
  rawOpsPerSec: number;
  cacheOpsPerSec: number;
  /** Median over rounds of cache / raw throughput, each round measured back to back. */
  ratio: number;
  /** The worst round's ratio. */
  minRatio: number;
  rawP50Us: number;
  rawP99Us: number;
  cacheP50Us: number;
  cacheP99Us: number;
}

export async function runHits(admin: AdminClient, worker: Worker, url: string, strategies: readonly Strategy[], request: HitsRequest, log: (line: string) => void): Promise<HitsRow[]> {
  const rows: HitsRow[] = [];
  for (const strategy of strategies) {
    await admin.flushAll();
    await worker.request({ type: 'open', strategy: strategy.name, options: { url, namespace: `hits-${strategy.name}`, ttlMs: 600_000 } });
    const result = await worker.request<HitsResult>({ type: 'hits', ...request });
    await worker.request({ type: 'close' });
    const ratios = result.cache.opsPerSec.map((ops, i) => ops / result.raw.opsPerSec[i]);
    const row: HitsRow = {
      strategy: strategy.name,
      concurrency: request.concurrency,
      rawOpsPerSec: Math.round(median(result.raw.opsPerSec)),
      cacheOpsPerSec: Math.round(median(result.cache.opsPerSec)),
      ratio: round(median(ratios), 3),
      minRatio: round(Math.min(...ratios), 3),
      rawP50Us: round(percentile(result.raw.latenciesUs, 50)),
      rawP99Us: round(percentile(result.raw.latenciesUs, 99)),
      cacheP50Us: round(percentile(result.cache.latenciesUs, 50)),
      cacheP99Us: round(percentile(result.cache.latenciesUs, 99)),
    };
    rows.push(row);
    log(`hits  ${strategy.name.padEnd(18)} c=${request.concurrency}: ${row.cacheOpsPerSec} vs raw GET ${row.rawOpsPerSec} ops/s = ${row.ratio}x (worst round ${row.minRatio}x)`);
  }
  return rows;
}
