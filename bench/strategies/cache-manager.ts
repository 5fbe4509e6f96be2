import { createKeyv } from '@keyv/redis';
import { createCache } from 'cache-manager';
import type { Strategy } from './strategy';

/**
 * cache-manager on a Keyv Redis store made with @keyv/redis's createKeyv, as its README shows (its own
 * node-redis v5 client). wrap() coalesces concurrent calls of one process.
 */
export const cacheManager: Strategy = {
  name: 'cache-manager',
  setup: 'createCache({ stores: [createKeyv(url, { namespace })] }).wrap(key, fn, ttl)',
  packages: ['cache-manager', 'keyv', '@keyv/redis'],
  async open({ url, namespace, ttlMs }) {
    const keyv = createKeyv(url, { namespace });
    const client = (keyv.store as { client: { get(key: string): Promise<unknown>; connect?(): Promise<unknown>; isOpen?: boolean } }).client;
    const cache = createCache({ stores: [keyv] });
    return {
      getOrSet: (key, factory) => cache.wrap(key, factory, ttlMs),
      // Keyv joins namespace and key with '::'.
      rawGet: (key) => client.get(`${namespace}::${key}`),
      close: () => cache.disconnect().then(() => undefined),
    };
  },
};
