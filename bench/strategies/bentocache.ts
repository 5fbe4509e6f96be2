import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import type { Strategy } from './strategy';

/**
 * bentocache with Redis as its L2 layer, as its Redis driver docs show (an ioredis connection). Its own
 * stampede protection is an in-process lock. No L1/bus: with an L1 its hits would be memory reads, which
 * is another comparison.
 */
export const bentocache: Strategy = {
  name: 'bentocache',
  setup: 'BentoCache + bentostore().useL2Layer(redisDriver({ connection: ioredis })); defaults otherwise',
  freshSetup:
    'BentoCache({ ttl, grace, timeout: 0 }) + bentostore().useL2Layer(redisDriver({ connection: ioredis })): Redis keeps entries for the grace period; soft timeout 0: a stale value is returned at once while the factory runs in the background',
  packages: ['bentocache', 'ioredis'],
  async open({ url, namespace, ttlMs, freshness }) {
    const redis = new Redis(url);
    await new Promise<void>((resolve, reject) => redis.once('ready', resolve).once('error', reject));
    const bento = new BentoCache({
      default: 'redis',
      prefix: namespace,
      ttl: ttlMs,
      // Its grace period, with the soft timeout of 0 its docs pair with it for stale-while-revalidate.
      ...(freshness && { grace: freshness.graceMs, timeout: 0 }),
      stores: { redis: bentostore().useL2Layer(redisDriver({ connection: redis })) },
    });
    return {
      getOrSet: (key, factory) => bento.getOrSet({ key, factory }),
      rawGet: (key) => redis.get(`${namespace}:${key}`),
      async close() {
        await bento.disconnectAll();
        redis.disconnect();
      },
    };
  },
};
