import { createCache } from 'async-cache-dedupe';
import { Redis } from 'ioredis';
import type { Strategy } from './strategy';

/**
 * async-cache-dedupe with its Redis storage on an ioredis client, as its README shows. It caches a defined
 * function by its argument, so the key is the argument and the call's factory is looked up by key.
 */
export const asyncCacheDedupe: Strategy = {
  name: 'async-cache-dedupe',
  setup: "createCache({ ttl, storage: { type: 'redis', options: { client: ioredis } } }).define(name, fn)",
  freshSetup:
    "createCache({ ttl, stale: grace, storage: { type: 'redis', options: { client: ioredis } } }).define(name, fn); ttl and stale in whole seconds; every hit also reads the key's PTTL, and one whose remaining TTL is at most stale refreshes in the background",
  packages: ['async-cache-dedupe', 'ioredis'],
  async open({ url, namespace, ttlMs, freshness }) {
    const redis = new Redis(url);
    await new Promise<void>((resolve, reject) => redis.once('ready', resolve).once('error', reject));
    const factories = new Map<string, () => Promise<unknown>>();
    // Its ttl and stale are whole seconds: a hit whose remaining Redis TTL is at most `stale` refreshes in
    // the background, and entries are stored for ttl + stale.
    const stale = freshness && { stale: Math.ceil(freshness.graceMs / 1000) };
    const cache = createCache({ ttl: Math.ceil(ttlMs / 1000), ...stale, storage: { type: 'redis', options: { client: redis } } });
    const cached = cache.define(namespace, (key: string) => factories.get(key)!()) as unknown as Record<string, (key: string) => Promise<unknown>>;
    return {
      getOrSet(key, factory) {
        factories.set(key, factory);
        return cached[namespace](key);
      },
      rawGet: (key) => redis.get(`${namespace}~${key}`),
      async close() {
        redis.disconnect();
      },
    };
  },
};
