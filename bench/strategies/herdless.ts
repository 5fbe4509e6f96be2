import { createClient } from 'redis';
import { createCache, type CacheOptions } from '../../src';
import { KeyLayout } from '../../src/keys';
import type { Strategy } from './strategy';

/** herdless with its defaults, on a node-redis client the benchmark owns (so hits can be compared on it). */
export const herdless: Strategy = {
  name: 'herdless',
  setup: 'createCache({ redis: client, namespace, ttl }); defaults otherwise (JSON text or V8 codec, lease 10s, wait 30s)',
  packages: ['redis'],
  async open({ url, namespace, ttlMs }) {
    const client = createClient({ url });
    await client.connect();
    const cache = createCache({ redis: client as CacheOptions['redis'], namespace, ttl: ttlMs });
    const keys = new KeyLayout(namespace);
    return {
      getOrSet: (key, factory) => cache.getOrSet(key, factory),
      rawGet: (key) => client.get(keys.value(key)),
      async close() {
        await cache.close();
        await client.quit();
      },
    };
  },
};
