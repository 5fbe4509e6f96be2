import { createClient } from 'redis';
import { createClient as createClientV5, createCluster as createClusterV5 } from 'redis-v5';
import { createClient as createClientV6 } from 'redis-v6';
import { createCache, InvalidOptionError, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { richValue } from './fixtures/values';

// Clients of node-redis v5 and v6 (the real packages, installed under aliases) drive the same protocol as
// v4: hits, a herd across caches on different client versions, errors shared, wake-ups, invalidations.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const caches: Cache[] = [];
const owned: { close?: () => Promise<unknown>; quit?: () => Promise<unknown> }[] = [];
let count = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
  await Promise.all(owned.splice(0).map((client) => (client.close ?? client.quit)!.call(client).catch(() => undefined)));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

const versions = [
  ['v5', () => createClientV5({ url: redis.url })],
  ['v5 over RESP3', () => createClientV5({ url: redis.url, RESP: 3 })],
  ['v6', () => createClientV6({ url: redis.url })],
] as const;

describe.each(versions)('a node-redis %s client', (_, create) => {
  async function cacheOn(namespace: string, connect: boolean): Promise<Cache> {
    const client = create();
    client.on('error', () => undefined);
    owned.push(client as never);
    if (connect) await client.connect();
    const cache = createCache({ redis: client, namespace });
    caches.push(cache);
    return cache;
  }

  test('hits, misses and values of every kind, connected or not', async () => {
    const namespace = `versions${++count}`;
    for (const connect of [true, false]) {
      const cache = await cacheOn(`${namespace}-${connect}`, connect);
      let runs = 0;
      const first = await cache.getOrSet('rich', () => (runs++, richValue()));
      const again = await cache.getOrSet('rich', () => (runs++, 'never'));
      expect(runs).toBe(1);
      expect(again).toEqual(first);
      expect(Object.prototype.toString.call((again as unknown as { map: unknown }).map)).toBe('[object Map]');
      await cache.set('n', 0);
      expect(await cache.get('n')).toBe(0);
      expect(await cache.delete('n')).toBe(true);
      expect(await cache.get('n')).toBeUndefined();
    }
  });

  test('a herd across a v4 cache and caches on this client: one run; waiters are woken with the value', async () => {
    const namespace = `versions${++count}`;
    const v4 = createCache({ redis: { url: redis.url }, namespace });
    caches.push(v4);
    const others = [await cacheOn(namespace, true), await cacheOn(namespace, true)];
    let runs = 0;
    const factory = async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 200));
      return { report: 42 };
    };
    const waits: string[] = [];
    others.forEach((cache) => cache.on('wait', (key) => waits.push(key)));
    const leading = v4.getOrSet('report', factory);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const values = await Promise.all([leading, ...others.map((cache) => cache.getOrSet('report', factory))]);
    expect(runs).toBe(1);
    expect(waits).toHaveLength(2);
    for (const value of values) expect(value).toEqual({ report: 42 });
  });

  test('an error thrown by the leader reaches a waiter on this client, with its code', async () => {
    const namespace = `versions${++count}`;
    const v4 = createCache({ redis: { url: redis.url }, namespace });
    caches.push(v4);
    const other = await cacheOn(namespace, true);
    const failing = v4.getOrSet('k', async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      throw Object.assign(new Error('database down'), { code: 'E_DB' });
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waited = other.getOrSet('k', () => 'never').catch((error: unknown) => error);
    await expect(failing).rejects.toThrow('database down');
    expect(await waited).toMatchObject({ message: 'database down', code: 'E_DB' });
  });

  test('Redis refusing a commit is recognised as a refusal on this client too: the lease ends', async () => {
    const namespace = `versions${++count}`;
    const cache = await cacheOn(namespace, true);
    let release!: (value: string) => void;
    const leading = cache.getOrSet('k', () => new Promise<string>((resolve) => (release = resolve)));
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
    await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' });
    try {
      release('refused');
      expect(await leading).toBe('refused');
      for (let i = 0; i < 200 && (await admin.exists(`${namespace}:{k}:lease`)) === 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await admin.exists(`${namespace}:{k}:lease`)).toBe(0);
    } finally {
      await admin.configSet({ maxmemory: '0' });
    }
  });
});

test('clients herdless cannot drive are refused where they are passed, naming what is supported', () => {
  const cluster = createClusterV5({ rootNodes: [{ url: redis.url }] });
  expect(() => createCache({ redis: cluster as never })).toThrow(InvalidOptionError);
  expect(() => createCache({ redis: cluster as never })).toThrow(/v5\/v6 cluster.*node-redis v4 cluster/);
  const foreign = { status: 'ready', sendCommand: () => undefined, duplicate: () => undefined, connect: () => undefined };
  expect(() => createCache({ redis: foreign as never })).toThrow(/node-redis v4 client or cluster \(redis@4\), or a node-redis v5\/v6 client/);
});
