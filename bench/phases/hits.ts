import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { median, percentile, round } from '../lib/stats';
import type { Strategy } from '../strategies/strategy';
import type { HitsRequest, HitsResult } from '../worker/hits';

/** One hits scenario: concurrent callers over a number of keys (see HitsRequest). */
export interface HitsScenario {
  callers: number;
  keys: number;
}

/**
 * The scenarios, in table order: 1 caller (round-trip bound), 32 callers on 32 keys (CPU bound), the hot
 * key (100 callers on one key) and the spread (1,000 keys over 100 callers). The last two are what a
 * memory tier is for.
 */
export const HIT_SCENARIOS: readonly HitsScenario[] = [
  { callers: 1, keys: 1 },
  { callers: 32, keys: 32 },
  { callers: 100, keys: 1 },
  { callers: 100, keys: 1000 },
];

export interface HitsRow {
  strategy: string;
  /** The scenario: concurrent callers, and the keys they read (HitsRequest). */
  callers: number;
  keys: number;
  /** The same as callers; kept for readers of results made before the scenarios had keys. */
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
  /**
   * Of the hits of one pass over every caller's keys after the rounds, the share served from memory, for
   * caches that report the tier of a hit (herdless-l1, bentocache-l1); undefined for the others.
   */
  memoryHitShare: number | undefined;
}

/** The scenario in words, for logs and tables. */
export function scenarioName(s: { callers: number; keys: number }): string {
  if (s.callers === 1 && s.keys === 1) return '1 caller';
  if (s.keys === 1) return `hot key, ${s.callers} callers`;
  if (s.keys === s.callers) return `${s.callers} callers, own keys`;
  return `${s.keys.toLocaleString('en-US')} keys over ${s.callers} callers`;
}

export async function runHits(admin: AdminClient, worker: Worker, url: string, strategies: readonly Strategy[], request: HitsRequest, log: (line: string) => void): Promise<HitsRow[]> {
  const rows: HitsRow[] = [];
  for (const strategy of strategies) {
    await admin.flushAll();
    await worker.request({ type: 'open', strategy: strategy.name, options: { url, namespace: `hits-${strategy.name}`, ttlMs: 600_000 } });
    const result = await worker.request<HitsResult>({ type: 'hits', ...request });
    await worker.request({ type: 'close' });
    const ratios = result.cache.opsPerSec.map((ops, i) => ops / result.raw.opsPerSec[i]);
    const tiers = result.tiers;
    const row: HitsRow = {
      strategy: strategy.name,
      callers: request.callers,
      keys: request.keys,
      concurrency: request.callers,
      rawOpsPerSec: Math.round(median(result.raw.opsPerSec)),
      cacheOpsPerSec: Math.round(median(result.cache.opsPerSec)),
      ratio: round(median(ratios), 3),
      minRatio: round(Math.min(...ratios), 3),
      rawP50Us: round(percentile(result.raw.latenciesUs, 50)),
      rawP99Us: round(percentile(result.raw.latenciesUs, 99)),
      cacheP50Us: round(percentile(result.cache.latenciesUs, 50)),
      cacheP99Us: round(percentile(result.cache.latenciesUs, 99)),
      memoryHitShare: tiers && tiers.memory + tiers.redis > 0 ? round(tiers.memory / (tiers.memory + tiers.redis), 3) : undefined,
    };
    rows.push(row);
    const share = row.memoryHitShare === undefined ? '' : `, ${round(row.memoryHitShare * 100)}% from memory`;
    log(`hits  ${strategy.name.padEnd(18)} ${scenarioName(row)}: ${row.cacheOpsPerSec} vs raw GET ${row.rawOpsPerSec} ops/s = ${row.ratio}x (worst round ${row.minRatio}x)${share}`);
  }
  return rows;
}
