import { createClient } from 'redis';
import { createCache, v8Codec, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { leaseScripts } from '../src/lease/scripts';
import { EnvelopeFormat } from '../src/envelope';
import { currentStamp } from '../support/stamp';
import { Monitor, tally } from './fixtures/monitor';
import { settled } from './fixtures/settled';

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
  await settled(cache, 'hot');
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
    const commands = await monitor.recordWithArguments(admin, () => Promise.all(Array.from({ length: 200 }, (_, i) => fresh.getOrSet(`k${i}`, () => i))));
    const used = tally(commands.map(([name]) => name));
    expect(used.eval ?? 0).toBe(0);
    // An acquire and a commit per key; the rest read the namespace's epoch (until the channel is trusted).
    const { acquire, commit } = leaseScripts('PUBLISH');
    expect(commands.filter(([name, sha]) => name === 'evalsha' && (sha === acquire.sha || sha === commit.sha))).toHaveLength(400);
    expect(used.evalsha - 400).toBeLessThanOrEqual(20);
    // SCRIPT LOAD of every lease script and the two tag-version scripts, once each.
    expect(used.script).toBe(Object.keys(leaseScripts('PUBLISH')).length + 2);
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

describe('waiters with a confirmed subscription do not poll', () => {
  async function herd(namespace: string, functionMs: number): Promise<number> {
    const caches = Array.from({ length: 4 }, () => createCache({ redis: { url: redis.url }, namespace }));
    try {
      await Promise.all(caches.map((c) => c.get('connect')));
      const commands = await monitor.record(admin, async () => {
        const leading = caches[0].getOrSet('k', () => new Promise((resolve) => setTimeout(() => resolve('v'), functionMs)));
        await new Promise((resolve) => setTimeout(resolve, 20));
        const waiting = caches.slice(1).flatMap((c) => Array.from({ length: 5 }, () => c.getOrSet('k', () => 'never')));
        expect(await Promise.all([leading, ...waiting])).toEqual(Array(16).fill('v'));
      });
      return commands.length;
    } finally {
      await Promise.all(caches.map((c) => c.close()));
    }
  }

  // MONITOR leaves CLIENT commands out: the holder checks (CLIENT LIST ID every 100 ms per waiting
  // process) do grow with the function's time; the re-checks and reads counted here must not.
  test("a herd's re-checks and reads do not grow with the function's time", async () => {
    const short = await herd('poll-short', 200);
    const long = await herd('poll-long', 2_500);
    expect(long).toBeLessThanOrEqual(Math.ceil(short * 1.15));
  });

  test('a function that outlives its lease five times over costs each waiting process one PTTL per lease TTL, not a re-check script', async () => {
    const caches = Array.from({ length: 4 }, () => createCache({ redis: { url: redis.url }, namespace: 'poll-renewed', lease: { ttl: 600 } }));
    try {
      await Promise.all(caches.map((c) => c.get('connect')));
      const commands = await monitor.recordWithArguments(admin, async () => {
        const leading = caches[0].getOrSet('k', () => new Promise((resolve) => setTimeout(() => resolve('v'), 3_000)));
        await new Promise((resolve) => setTimeout(resolve, 20));
        const waiting = caches.slice(1).flatMap((c) => Array.from({ length: 5 }, () => c.getOrSet('k', () => 'never')));
        expect(await Promise.all([leading, ...waiting])).toEqual(Array(16).fill('v'));
      });
      const { acquire, renew } = leaseScripts('PUBLISH');
      const count = (name: string, sha?: string) => commands.filter(([n, s]) => n === name && (sha === undefined || s === sha)).length;
      // The leader renews every lease TTL / 3: that is what keeps the lease while it computes.
      expect(count('evalsha', renew.sha)).toBeGreaterThanOrEqual(10);
      // One acquire for the leader; two per waiting process on arrival (before and after subscribing), and
      // none after: the commit's wake-up carries the value. A loaded machine may stall the leader's event
      // loop past its 600 ms lease once, and a waiter then re-checks: one more per waiting process at most.
      // Polling instead would have cost each of them one per 100 ms, about 30.
      expect(count('evalsha', acquire.sha)).toBeLessThanOrEqual(1 + 3 * 2 + 3);
      // Each waiting process asks for the lease's TTL once per lease TTL it waited (3 s / 600 ms), at most.
      expect(count('pttl')).toBeLessThanOrEqual(3 * 6);
    } finally {
      await Promise.all(caches.map((c) => c.close()));
    }
  });

  test('a dropped subscriber connection makes waiters re-check at once and poll, so a wake-up lost meanwhile costs no lease TTL', async () => {
    const waiter = createCache({ redis: { url: redis.url }, namespace: 'poll-lost' });
    waiter.on('error', () => undefined);
    const family = ['poll-lost:{k}:v', 'poll-lost:{k}:lease', 'poll-lost:{k}:ch', 'poll-lost:{k}:backoff'];
    try {
      await admin.set(family[1], 'holder-1', { PX: 30_000 });
      const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
      const answer = waiter.getOrSet('k', () => 'never');
      await waiting;
      await new Promise((resolve) => setTimeout(resolve, 100)); // asleep until the lease would expire
      // In one round trip: the subscriber connection is killed, then holder-1 commits. Its wake-up goes
      // out before the subscriber can be back, so it is lost for sure.
      const envelope = new EnvelopeFormat(v8Codec, 'poll-lost').encode('v', 'k', Date.now(), 60_000, 1, await currentStamp(admin, 'poll-lost'));
      const { commit } = leaseScripts('PUBLISH');
      await Promise.all([
        admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']),
        admin.eval(commit.source, { keys: family, arguments: ['holder-1', envelope as unknown as string, '60000'] }),
      ]);
      const started = Date.now();
      let settled = false;
      answer.then(() => (settled = true), () => (settled = true));
      // A hang detector: the lease had 30 s left; a waiter that re-checks needs well under a second.
      while (!settled && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled).toBe(true);
      expect(await answer).toBe('v');
    } finally {
      await waiter.close();
    }
  });
});
