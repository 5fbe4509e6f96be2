import { createClient } from 'redis';
import { createCache, type Cache, type CacheOptions } from '../../src';
import { setDefaultCache } from '../../decorators';
import { startRedis, type EmbeddedRedis } from '../../support/embedded-redis';

export interface TestRedis {
  readonly url: string;
  /** A cache on this file's Redis with a namespace of its own, closed after the test. */
  cache(options?: CacheOptions): Cache;
  /** A plain client, for looking at keys; closed after the file. */
  client(): Promise<ReturnType<typeof createClient>>;
}

/** One Redis per test file; caches are closed and the default cache cleared after every test. */
export function useRedis(): TestRedis {
  let redis: EmbeddedRedis | undefined;
  let plain: ReturnType<typeof createClient> | undefined;
  const open: Cache[] = [];
  let namespaces = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    setDefaultCache(undefined);
    await Promise.all(open.splice(0).map((cache) => cache.close()));
  });
  afterAll(async () => {
    await plain?.quit();
    await redis?.stop();
  });
  return {
    get url() {
      if (!redis) throw new Error('Redis is not started yet');
      return redis.url;
    },
    cache(options: CacheOptions = {}) {
      const cache = createCache({ redis: { url: this.url }, namespace: `test${++namespaces}`, ...options });
      open.push(cache);
      return cache;
    },
    async client() {
      if (!plain) {
        plain = createClient({ url: this.url });
        await plain.connect();
      }
      return plain;
    },
  };
}

/** Counts calls by name; what the tests assert on. */
export class Runs {
  private readonly counts = new Map<string, number>();

  count(name: string): void {
    this.counts.set(name, this.of(name) + 1);
  }

  of(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}
