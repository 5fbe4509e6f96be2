import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { Redis } from 'ioredis';
import type { Strategy, TaggedCache } from './strategy';

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
  tagSetup: "bento.getOrSet({ key, factory, tags: [...] }) (no tags field for the untagged baseline), bento.set({ key, value, tags: ['big'] }), bento.deleteByTag({ tags: ['big'] })",
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
      tags: bentoTags(bento),
      async close() {
        await bento.disconnectAll();
        redis.disconnect();
      },
    };
  },
};

/**
 * bentocache's tiered setup, as its docs show for a multi-instance app: a memory L1 in front of the Redis
 * L2, and a Redis bus that tells the other processes' L1s about every write (their entries of the key are
 * logically expired and re-read from Redis). The L1 is bounded like herdless-l1's defaults (10,000
 * entries, 64 MB; it serializes its entries, its default). The hits and coherence phases only.
 */
export const bentocacheL1: Strategy = {
  name: 'bentocache-l1',
  setup:
    "BentoCache + bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, maxSize: '64mb' })).useL2Layer(redisDriver({ connection: ioredis })).useBus(redisBusDriver({ connection: ioredis })); defaults otherwise",
  packages: ['bentocache', 'ioredis'],
  phases: ['hits', 'coherence'],
  tagSetup: 'bento.getOrSet({ key, factory, tags: [...] }) on the tiered store (memory L1, Redis L2, Redis bus); no tags field for the untagged baseline',
  async open({ url, namespace, ttlMs }) {
    const redis = new Redis(url);
    await new Promise<void>((resolve, reject) => redis.once('ready', resolve).once('error', reject));
    const bento = new BentoCache({
      default: 'tiered',
      prefix: namespace,
      ttl: ttlMs,
      stores: {
        tiered: bentostore()
          .useL1Layer(memoryDriver({ maxItems: 10_000, maxSize: '64mb' }))
          .useL2Layer(redisDriver({ connection: redis }))
          // The bus duplicates the connection for its publisher and its subscriber.
          .useBus(redisBusDriver({ connection: redis })),
      },
    });
    return {
      getOrSet: (key, factory) => bento.getOrSet({ key, factory }),
      rawGet: (key) => redis.get(`${namespace}:${key}`),
      set: (key, value) => bento.set({ key, value }).then(() => undefined),
      tags: bentoTags(bento),
      watchHits(listener) {
        const onHit = ({ layer }: { layer: 'l1' | 'l2' }) => listener(layer === 'l1' ? 'memory' : 'redis');
        bento.on('cache:hit', onHit);
        return () => bento.off('cache:hit', onHit);
      },
      async close() {
        await bento.disconnectAll();
        redis.disconnect();
      },
    };
  },
};

/**
 * bentocache's tags as its docs show. An invalidation writes one key, `___bc:t:<tag>`, holding the time
 * of the invalidation; a hit of a tagged entry reads each of its tags' keys through the store (from
 * Redis without an L1, one tag after another) and drops the entry if it was created before one of them.
 */
function bentoTags(bento: BentoCache<Record<string, ReturnType<typeof bentostore>>>): TaggedCache {
  return {
    getOrSet: (key, factory, tags) => (tags === undefined ? bento.getOrSet({ key, factory }) : bento.getOrSet({ key, factory, tags })),
    set: (key, value, tags) => bento.set({ key, value, tags }).then(() => undefined),
    invalidate: (tags) => bento.deleteByTag({ tags }).then(() => undefined),
    peek: (key) => bento.get({ key }),
  };
}
