import { performance } from 'node:perf_hooks';
import { sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';

export interface HitsRequest {
  /** Concurrent callers. */
  callers: number;
  /**
   * Keys they read: with as many keys as callers each caller has its own; with one key every caller reads
   * it (the hot key); with more keys than callers caller i cycles over keys i, i + callers, i + 2 callers...
   */
  keys: number;
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
  /**
   * Hits by tier in one pass over every caller's keys after the rounds, for caches that report it
   * (watchHits); undefined for the others.
   */
  tiers: { memory: number; redis: number } | undefined;
}

/** A small record, about what a cache typically holds for a key. */
export const HIT_VALUE = { id: 42, name: 'Ada Lovelace', email: 'ada@example.org', roles: ['admin', 'author'], active: true, score: 97.5 };

/** The keys each caller cycles over. */
export function callerKeys(callers: number, keys: number): string[][] {
  return Array.from({ length: callers }, (_, i) => {
    if (keys <= callers) return [`hit:${i % keys}`];
    const mine: string[] = [];
    for (let k = i; k < keys; k += callers) mine.push(`hit:${k}`);
    return mine;
  });
}

/**
 * Cache hits against a raw GET of the same stored key on the same connection, in alternating rounds (the
 * side that goes first alternates too), so drift in the machine affects both sides alike.
 */
export async function hits(cache: CacheUnderTest, request: HitsRequest): Promise<HitsResult> {
  const lanes = callerKeys(request.callers, request.keys);
  const keys = Array.from({ length: request.keys }, (_, i) => `hit:${i}`);
  await inChunks(keys, async (key) => {
    await cache.getOrSet(key, async () => HIT_VALUE);
    if ((await cache.rawGet(key)) == null) throw new Error(`raw GET found nothing where the cache stored '${key}'`);
  });
  const viaCache = (key: string) => cache.getOrSet(key, () => Promise.reject(new Error('a hit was expected')));
  const viaRaw = (key: string) => cache.rawGet(key);
  if (cache.watchHits) {
    // A memory tier may keep only what it read once its invalidations are proven to arrive (herdless-l1
    // subscribes on its first call): let that happen, then read every key again so the tier holds them.
    await sleep(150);
    await inChunks(keys, viaCache);
  }
  const result: HitsResult = { raw: { opsPerSec: [], latenciesUs: [] }, cache: { opsPerSec: [], latenciesUs: [] }, tiers: undefined };
  await measure(viaRaw, lanes, request.warmupMs, undefined);
  await measure(viaCache, lanes, request.warmupMs, undefined);
  for (let round = 0; round < request.rounds; round++) {
    const order = round % 2 === 0 ? (['raw', 'cache'] as const) : (['cache', 'raw'] as const);
    for (const side of order) {
      await measure(side === 'raw' ? viaRaw : viaCache, lanes, request.roundMs, result[side]);
    }
  }
  if (cache.watchHits) {
    const tiers = { memory: 0, redis: 0 };
    const stop = cache.watchHits((tier) => tiers[tier]++);
    try {
      await Promise.all(lanes.map(async (mine) => {
        for (const key of mine) await viaCache(key);
      }));
    } finally {
      stop();
    }
    result.tiers = tiers;
  }
  return result;
}

/** `each` for every key, 100 at a time. */
async function inChunks(keys: string[], each: (key: string) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map(each));
}

/** Every caller loops over its keys for `ms`; throughput counts the calls completed in that time. */
async function measure(call: (key: string) => Promise<unknown>, lanes: string[][], ms: number, into: HitsSide | undefined): Promise<void> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    lanes.map(async (mine) => {
      for (let now = performance.now(), i = 0; now < until; i = i + 1 === mine.length ? 0 : i + 1) {
        await call(mine[i]);
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
