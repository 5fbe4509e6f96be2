import { createClient } from 'redis';
import { createCache, type CacheOptions } from '../../src';
import { KeyLayout } from '../../src/keys';
import type { CacheUnderTest, Strategy } from './strategy';

/**
 * herdless with its defaults, on a node-redis client the benchmark owns (so hits can be compared on it).
 * Opened with `freshness` (the expiry phase) it also has `grace`, earlyRefresh left at its default.
 */
export const herdless: Strategy = {
  name: 'herdless',
  setup: 'createCache({ redis: client, namespace, ttl }); defaults otherwise (JSON text or V8 codec, lease 10s, wait 30s)',
  freshSetup: 'createCache({ redis: client, namespace, ttl, grace }); earlyRefresh, softTimeout and the rest at their defaults',
  packages: ['redis'],
  // Every phase, the coherence phase included (no memory tier: every read is a Redis GET, the baseline).
  phases: ['herd', 'expiry', 'crash', 'hits', 'coherence', 'miss', 'instrumentation'],
  tagSetup: "cache.getOrSet(key, fn, { tags: [...] }) (no options object for the untagged baseline), cache.set(key, value, { tags: ['big'] }), cache.invalidateTags(['big'])",
  open: ({ url, namespace, ttlMs, freshness }) => openHerdless(url, namespace, { ttl: ttlMs, ...(freshness && { grace: freshness.graceMs }) }),
};

/**
 * herdless with earlyRefresh alone (its default) and no grace: the expiry phase's second herdless row, to
 * show what refreshing ahead does without ever serving a stale value.
 */
export const herdlessEarly: Strategy = {
  name: 'herdless-early',
  setup: 'createCache({ redis: client, namespace, ttl }); no grace, earlyRefresh at its default (1)',
  packages: ['redis'],
  phases: ['expiry'],
  open: ({ url, namespace, ttlMs }) => openHerdless(url, namespace, { ttl: ttlMs }),
};

/**
 * The expiry phase's baseline: the same fleet, lanes and key, but a ttl far beyond the run, so every call
 * after the first fill is a plain hit. Its p99 is the hit p99 the expiry rows are judged against (the
 * issue's "p99 within 2x the hit p99"), measured under the very same load.
 */
export const herdlessSteady: Strategy = {
  name: 'herdless-steady',
  setup: 'createCache({ redis: client, namespace, ttl: 1h }): the key never expires during the run, so after the first fill every call is a hit',
  packages: ['redis'],
  phases: ['expiry'],
  expiryTtlMs: 3_600_000,
  open: ({ url, namespace, ttlMs }) => openHerdless(url, namespace, { ttl: ttlMs }),
};

/**
 * herdless with its memory tier (the crash, hits, coherence and instrumentation phases): a hit is a memory read once the tier's
 * subscription is proven live; every write anywhere drops the key from every process's tier.
 */
export const herdlessL1: Strategy = {
  name: 'herdless-l1',
  setup: 'createCache({ redis: client, namespace, ttl, l1: true }); the memory tier at its defaults (10,000 entries, 64 MB)',
  packages: ['redis', 'lru-cache'],
  phases: ['crash', 'hits', 'coherence', 'instrumentation'],
  tagSetup: 'cache.getOrSet(key, fn, { tags: [...] }) on the memory tier (l1: true); no options object for the untagged baseline',
  open: ({ url, namespace, ttlMs }) => openHerdless(url, namespace, { ttl: ttlMs, l1: true }),
};

/** The memory tier with a copy decoded for every hit instead of one shared frozen value: what sharing saves. */
export const herdlessL1Copy: Strategy = {
  name: 'herdless-l1-copy',
  setup: "createCache({ redis: client, namespace, ttl, l1: { values: 'copy' } }): every memory hit decodes its own mutable copy",
  packages: ['redis', 'lru-cache'],
  phases: ['hits'],
  open: ({ url, namespace, ttlMs }) => openHerdless(url, namespace, { ttl: ttlMs, l1: { values: 'copy' } }),
};

async function openHerdless(url: string, namespace: string, options: Pick<CacheOptions, 'ttl' | 'grace' | 'l1'>): Promise<CacheUnderTest> {
  const client = createClient({ url });
  await client.connect();
  let cache: ReturnType<typeof createCache>;
  try {
    cache = createCache({ redis: client as CacheOptions['redis'], namespace, ...options });
  } catch (error) {
    await client.quit();
    throw error;
  }
  const keys = new KeyLayout(namespace);
  return {
    getOrSet: (key, factory) => cache.getOrSet(key, factory),
    rawGet: (key) => client.get(keys.value(key)),
    set: (key, value) => cache.set(key, value),
    watchHits(listener) {
      const onHit = (_key: string, tier: 'memory' | 'redis') => listener(tier);
      cache.on('hit', onHit);
      return () => cache.off('hit', onHit);
    },
    tags: {
      // No options object at all when untagged: what a caller without tags writes, and the hit path that
      // allocates nothing (options.ts), so the baseline is the cheapest call there is.
      getOrSet: (key, factory, tags) => (tags === undefined ? cache.getOrSet(key, factory) : cache.getOrSet(key, factory, { tags })),
      set: (key, value, tags) => cache.set(key, value, { tags }),
      invalidate: (tags) => cache.invalidateTags(tags),
      peek: (key) => cache.get(key),
    },
    async close() {
      await cache.close();
      await client.quit();
    },
  };
}
