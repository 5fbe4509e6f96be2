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
  packages: ['async-cache-dedupe', 'ioredis'],
  async open({ url, namespace, ttlMs }) {
    const redis = new Redis(url);
    await new Promise<void>((resolve, reject) => redis.once('ready', resolve).once('error', reject));
    const factories = new Map<string, () => Promise<unknown>>();
    const cache = createCache({ ttl: Math.ceil(ttlMs / 1000), storage: { type: 'redis', options: { client: redis } } });
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
