import { createCluster } from 'redis';
import { createCache } from '../../src';
import { KeyLayout } from '../../src/keys';
import type { Strategy } from './strategy';

/**
 * herdless with its defaults on Redis Cluster, connected the way its README shows (herdless opens the
 * cluster connection from the root nodes). Herd phase only; rawGet reads through a cluster client of its
 * own, opened on first use.
 */
export const herdlessCluster: Strategy = {
  name: 'herdless-cluster',
  setup: 'createCache({ redis: { cluster: { rootNodes } }, namespace, ttl }); 3 masters + 3 replicas; defaults otherwise',
  packages: ['redis'],
  topology: 'cluster',
  async open({ rootNodes, namespace, ttlMs }) {
    if (!rootNodes?.length) throw new Error('herdless-cluster needs the rootNodes of a Redis Cluster');
    const cache = createCache({ redis: { cluster: { rootNodes } }, namespace, ttl: ttlMs });
    const keys = new KeyLayout(namespace);
    let reader: Promise<ReturnType<typeof createCluster>> | undefined;
    return {
      getOrSet: (key, factory) => cache.getOrSet(key, factory),
      async rawGet(key) {
        reader ??= (async () => {
          const cluster = createCluster({ rootNodes });
          await cluster.connect();
          return cluster;
        })();
        return (await reader).get(keys.value(key));
      },
      async close() {
        await cache.close();
        await (await reader)?.quit();
      },
    };
  },
};
