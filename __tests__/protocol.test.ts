import { createClient } from 'redis';
import { createCache, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { leaseScripts } from '../src/lease/scripts';
import { Monitor, tally } from './fixtures/monitor';

// What each path costs in round trips, read from the server's MONITOR feed.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let monitor: Monitor;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  monitor = await Monitor.start(redis.port);
  cache = createCache({ redis: { url: redis.url }, namespace: 'counted' });
  await cache.get('connect');
});

afterAll(async () => {
  monitor.stop();
  await cache.close();
  await admin.quit();
  await redis.stop();
});

const sent = (action: () => Promise<unknown>) => monitor.record(admin, action).then(tally);

test('a hit is exactly one GET: no script, nothing else', async () => {
  await cache.getOrSet('hot', () => 'value');
  expect(
    await sent(async () => {
      for (let i = 0; i < 100; i++) await cache.getOrSet('hot', () => 'never');
    }),
  ).toEqual({ get: 100 });
});

test('concurrent calls for one key in one process share one Redis conversation', async () => {
  expect(await sent(() => Promise.all(Array.from({ length: 100 }, () => cache.getOrSet('hot', () => 'never'))))).toEqual({ get: 1 });
  let runs = 0;
  const used = await sent(async () => {
    const values = await Promise.all(Array.from({ length: 50 }, () => cache.getOrSet('cold', () => ++runs)));
    expect(values).toEqual(Array(50).fill(1));
  });
  expect(runs).toBe(1);
  expect(used).toEqual({ get: 1, evalsha: 2 }); // GET, acquire, fenced commit
});

test('scripts are loaded when the connection becomes ready, so first calls do not hit NOSCRIPT', async () => {
  await admin.scriptFlush();
  const fresh = createCache({ redis: { url: redis.url }, namespace: 'fresh' });
  try {
    const used = await sent(() => Promise.all(Array.from({ length: 200 }, (_, i) => fresh.getOrSet(`k${i}`, () => i))));
    expect(used.eval ?? 0).toBe(0);
    expect(used.evalsha).toBe(400);
    expect(used.script).toBe(7);
  } finally {
    await fresh.close();
  }
});

test('a woken waiter takes the value from the wake-up, without reading it back (values up to 64 KiB)', async () => {
  const waiter = createCache({ redis: { url: redis.url }, namespace: 'counted' });
  await waiter.get('connect');
  try {
    const { acquire, commit } = leaseScripts('PUBLISH');
    for (const [key, value, readsAfterCommit] of [['small', 'x'.repeat(100), 0], ['large', 'x'.repeat(100_000), 1]] as const) {
      const commands = await monitor.recordWithArguments(admin, async () => {
        const started = new Promise<void>((resolve) => cache.once('lead', () => resolve()));
        // 340 ms falls between the waiter's 4th and 5th poll (jittered backoff), so no poll races the wake-up.
        const leading = cache.getOrSet(key, () => new Promise<string>((resolve) => setTimeout(() => resolve(value), 340)));
        await started;
        expect(await waiter.getOrSet(key, () => 'never')).toBe(value);
        await leading;
      });
      const committed = commands.findIndex(([name, sha]) => name === 'evalsha' && sha === commit.sha);
      expect(committed).toBeGreaterThan(0);
      const after = commands.slice(committed + 1).filter(([name, sha]) => name === 'evalsha' && sha === acquire.sha);
      expect(after).toHaveLength(readsAfterCommit);
    }
  } finally {
    await waiter.close();
  }
});
