import { performance } from 'node:perf_hooks';
import type { CacheUnderTest } from '../strategies/strategy';

export interface HitsRequest {
  /** Concurrent callers, each on its own key (one key when 1). */
  concurrency: number;
  /** How long each side runs per round. */
  roundMs: number;
  rounds: number;
  warmupMs: number;
}

export interface HitsSide {
  opsPerSec: number[];
  latenciesUs: number[];
}

export interface HitsResult {
  raw: HitsSide;
  cache: HitsSide;
}

/** A small record, about what a cache typically holds for a key. */
export const HIT_VALUE = { id: 42, name: 'Ada Lovelace', email: 'ada@example.org', roles: ['admin', 'author'], active: true, score: 97.5 };

/**
 * Cache hits against a raw GET of the same stored key on the same connection, in alternating rounds (the
 * side that goes first alternates too), so drift in the machine affects both sides alike.
 */
export async function hits(cache: CacheUnderTest, request: HitsRequest): Promise<HitsResult> {
  const keys = Array.from({ length: request.concurrency }, (_, i) => `hit:${i}`);
  for (const key of keys) {
    await cache.getOrSet(key, async () => HIT_VALUE);
    if ((await cache.rawGet(key)) == null) throw new Error(`raw GET found nothing where the cache stored '${key}'`);
  }
  const viaCache = (key: string) => cache.getOrSet(key, () => Promise.reject(new Error('a hit was expected')));
  const viaRaw = (key: string) => cache.rawGet(key);
  const result: HitsResult = { raw: { opsPerSec: [], latenciesUs: [] }, cache: { opsPerSec: [], latenciesUs: [] } };
  await measure(viaRaw, keys, request.warmupMs, undefined);
  await measure(viaCache, keys, request.warmupMs, undefined);
  for (let round = 0; round < request.rounds; round++) {
    const order = round % 2 === 0 ? (['raw', 'cache'] as const) : (['cache', 'raw'] as const);
    for (const side of order) {
      await measure(side === 'raw' ? viaRaw : viaCache, keys, request.roundMs, result[side]);
    }
  }
  return result;
}

/** Every caller loops on its key for `ms`; throughput counts the calls completed in that time. */
async function measure(call: (key: string) => Promise<unknown>, keys: string[], ms: number, into: HitsSide | undefined): Promise<void> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    keys.map(async (key) => {
      for (let now = performance.now(); now < until; ) {
        await call(key);
        const end = performance.now();
        latencies.push((end - now) * 1000);
        now = end;
      }
    }),
  );
  const elapsed = performance.now() - started;
  if (!into) return;
  into.opsPerSec.push((latencies.length * 1000) / elapsed);
  // Keep a sample of latencies: enough for p99 without shipping every one over IPC.
  const step = Math.max(1, Math.floor(latencies.length / 4000));
  for (let i = 0; i < latencies.length; i += step) into.latenciesUs.push(latencies[i]);
}
