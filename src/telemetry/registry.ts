import type { Cache } from '../cache';
import type { CacheStats } from './stats';

/*
 * The caches of this process, for adapters that read their counters at collection time instead of
 * tracing every call (telemetry/meter.ts): hits then cost nothing more with an adapter on. Invariants:
 * - a cache is held weakly: the registry keeps no cache alive;
 * - what a closed cache counted stays in its namespace's retired totals, so a total read from here never
 *   goes down when a cache closes (a monotonic counter stays monotonic). A cache dropped without close()
 *   takes its counts with it.
 */

const open = new Set<WeakRef<Cache>>();
const refs = new WeakMap<Cache, WeakRef<Cache>>();
const retired = new Map<string, CacheStats>();

export function opened(cache: Cache): void {
  const ref = new WeakRef(cache);
  refs.set(cache, ref);
  open.add(ref);
}

export function closed(cache: Cache): void {
  const ref = refs.get(cache);
  if (ref === undefined || !open.delete(ref)) return;
  const stats = cache.stats();
  const before = retired.get(stats.namespace);
  retired.set(stats.namespace, before === undefined ? { ...stats, memory: undefined } : add(before, stats));
}

/** The open caches. */
function* openCaches(): IterableIterator<Cache> {
  for (const ref of open) {
    const cache = ref.deref();
    if (cache === undefined) open.delete(ref);
    else yield cache;
  }
}

/** Every cache's counters summed by namespace, closed caches' included (the memory tier: open caches only). */
export function statsByNamespace(): Map<string, CacheStats> {
  const totals = new Map<string, CacheStats>(retired);
  for (const cache of openCaches()) {
    const stats = cache.stats();
    const before = totals.get(stats.namespace);
    totals.set(stats.namespace, before === undefined ? stats : add(before, stats));
  }
  return totals;
}

function add(a: CacheStats, b: CacheStats): CacheStats {
  const sum = <T extends Record<string, number>>(x: T, y: T) => Object.fromEntries(Object.keys(x).map((k) => [k, x[k] + (y[k] ?? 0)])) as T;
  const memory = a.memory === undefined ? b.memory : b.memory === undefined ? a.memory : sum(a.memory, b.memory);
  return {
    namespace: a.namespace,
    calls: sum(a.calls, b.calls),
    hits: sum(a.hits, b.hits),
    stale: sum(a.stale, b.stale),
    misses: a.misses + b.misses,
    refreshes: sum(a.refreshes, b.refreshes),
    errors: a.errors + b.errors,
    memory,
  };
}
