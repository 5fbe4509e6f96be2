import { createKeyv } from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { LRUCache } from 'lru-cache';
import type { Strategy } from './strategy';

/**
 * cache-manager on a Keyv Redis store made with @keyv/redis's createKeyv, as its README shows (its own
 * node-redis v5 client). wrap() coalesces concurrent calls of one process.
 */
export const cacheManager: Strategy = {
  name: 'cache-manager',
  setup: 'createCache({ stores: [createKeyv(url, { namespace })] }).wrap(key, fn, ttl)',
  freshSetup:
    'wrap(key, fn, ttl, refreshThreshold = ttl / 2): no grace (an entry is gone at its ttl, so nothing stale can be served); a hit in the last half of the ttl refreshes in the background instead. Every hit while a refresh runs queues its own SET of the refreshed value (wrap chains set() onto the coalesced refresh per hit), so each refresh ends in a burst of writes that stalls the process',
  packages: ['cache-manager', 'keyv', '@keyv/redis'],
  async open({ url, namespace, ttlMs, freshness }) {
    const keyv = createKeyv(url, { namespace });
    const client = (keyv.store as { client: { get(key: string): Promise<unknown>; connect?(): Promise<unknown>; isOpen?: boolean } }).client;
    const cache = createCache({ stores: [keyv] });
    return {
      // cache-manager has no grace period: refreshThreshold refreshes ahead of the ttl instead (a hit whose
      // remaining ttl is below it returns the value and refreshes in the background). Half the ttl: with
      // the phase's default times (ttl 1 s, function 300 ms) the new value lands before the old one expires.
      getOrSet: freshness ? (key, factory) => cache.wrap(key, factory, ttlMs, ttlMs / 2) : (key, factory) => cache.wrap(key, factory, ttlMs),
      // Keyv joins namespace and key with '::'.
      rawGet: (key) => client.get(`${namespace}::${key}`),
      close: () => cache.disconnect().then(() => undefined),
    };
  },
};

/**
 * cache-manager's tiered setup, as its README shows: a Keyv memory store first, the Redis store second.
 * A hit in memory answers there; a hit in Redis is copied into memory. Its README's memory store is
 * `cacheable`'s CacheableMemory, which is not installed here: Keyv takes any Map-like store, so it is
 * lru-cache's LRUCache (installed, herdless's own dependency), bounded like herdless-l1's defaults
 * (10,000 entries), Keyv's JSON serialization kept. Nothing tells one process's memory store about
 * another's writes (cache-manager has no such bus): a write elsewhere is seen once the memory entry's
 * ttl ends. The hits and coherence phases only.
 */
export const cacheManagerL1: Strategy = {
  name: 'cache-manager-l1',
  setup: 'createCache({ stores: [new Keyv({ store: new LRUCache({ max: 10_000 }) }), createKeyv(url, { namespace })] }).wrap(key, fn, ttl); set(key, value, ttl) writes both stores of its own process only',
  packages: ['cache-manager', 'keyv', '@keyv/redis', 'lru-cache'],
  phases: ['hits', 'coherence'],
  async open({ url, namespace, ttlMs }) {
    const memory = new Keyv({ store: new LRUCache<string, string>({ max: 10_000 }) });
    const redis = createKeyv(url, { namespace });
    const client = (redis.store as { client: { get(key: string): Promise<unknown> } }).client;
    const cache = createCache({ stores: [memory, redis] });
    return {
      getOrSet: (key, factory) => cache.wrap(key, factory, ttlMs),
      rawGet: (key) => client.get(`${namespace}::${key}`),
      set: (key, value) => cache.set(key, value, ttlMs).then(() => undefined),
      close: () => cache.disconnect().then(() => undefined),
    };
  },
};
