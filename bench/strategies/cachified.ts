import { cachified } from '@epic-web/cachified';
import { redisCacheAdapter } from 'cachified-redis-adapter';
import { createClient } from 'redis';
import type { Strategy } from './strategy';

/**
 * @epic-web/cachified with the Redis adapter its README lists (cachified-redis-adapter, on node-redis).
 * Concurrent calls are deduplicated per cache object, so one adapter serves every call of a process.
 */
export const cachifiedStrategy: Strategy = {
  name: 'cachified',
  setup: 'cachified({ cache: redisCacheAdapter(nodeRedisClient), key, ttl, getFreshValue })',
  freshSetup:
    'cachified({ cache: redisCacheAdapter(nodeRedisClient), key, ttl, staleWhileRevalidate: grace, getFreshValue }); its ttl counts from when getFreshValue was called, so a value goes stale (and is refreshed) a function time before computedAt + ttl',
  packages: ['@epic-web/cachified', 'cachified-redis-adapter', 'redis'],
  async open({ url, namespace, ttlMs, freshness }) {
    const client = createClient({ url });
    await client.connect();
    const cache = redisCacheAdapter(client as never);
    const at = (key: string) => `${namespace}:${key}`;
    const swr = freshness && { staleWhileRevalidate: freshness.graceMs };
    return {
      getOrSet: (key, factory) => cachified({ cache, key: at(key), ttl: ttlMs, ...swr, getFreshValue: factory }),
      rawGet: (key) => client.get(at(key)),
      close: () => client.quit().then(() => undefined),
    };
  },
};
