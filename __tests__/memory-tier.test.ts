import { execFileSync } from 'node:child_process';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { createClient } from 'redis';
import { createCache, InvalidOptionError, v8Codec, type Cache, type CacheOptions } from '../src';
import { EnvelopeFormat, type Envelope } from '../src/envelope';
import { currentStamp } from '../support/stamp';
import { leaseScripts } from '../src/lease/scripts';
import { DEAD_AFTER_MS, ECHO_MS, STALL_MS } from '../src/bus/invalidations';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';

// The memory tier (L1): its hits, and the rules that keep it coherent with Redis and with the other caches
// of the fleet (each cache here has its own connections, as another process would).

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const open: Cache[] = [];
let count = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

function caches(n: number, options: CacheOptions = {}): Cache[] {
  const namespace = `l1-${++count}`;
  const made = Array.from({ length: n }, () => createCache({ redis: { url: redis.url }, namespace, l1: true, ...options }));
  for (const cache of made) cache.on('error', () => undefined);
  open.push(...made);
  return made;
}

/** Reads until the tier answers (its subscription is proven live by its first echo), or gives up. */
async function untilMemoryHit(cache: Cache, key: string, factory: () => unknown): Promise<void> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  cache.on('hit', listener);
  try {
    for (const end = Date.now() + 10_000; tier !== 'memory' && Date.now() < end; ) {
      await cache.getOrSet(key, factory);
      await sleep(20);
    }
  } finally {
    cache.off('hit', listener);
  }
  expect(tier).toBe('memory');
}

test("hits are answered from memory once the tier's subscription is proven live, and emit the tier", async () => {
  const [cache] = caches(1);
  const tiers: string[] = [];
  cache.on('hit', (_key, tier) => tiers.push(tier));
  expect(await cache.getOrSet('k', () => 'v')).toBe('v');
  await untilMemoryHit(cache, 'k', () => 'never');
  expect(tiers).toContain('redis');
  // 50 hits in a row, none reaching Redis. The tier rightly stops answering while this process's event
  // loop stalls (a loaded machine: STALL_MS), so a window that met a stall is tried again, a few times.
  let quiet = false;
  for (let window = 0; window < 5 && !quiet; window++) {
    const before = (await admin.info('commandstats')).match(/cmdstat_get:calls=(\d+)/)?.[1];
    const from = tiers.length;
    for (let i = 0; i < 50; i++) expect(await cache.getOrSet('k', () => 'never')).toBe('v');
    const after = (await admin.info('commandstats')).match(/cmdstat_get:calls=(\d+)/)?.[1];
    quiet = after === before && tiers.slice(from).every((tier) => tier === 'memory') && tiers.length - from === 50;
  }
  expect(quiet).toBe(true);
});

test('set(), delete() and a commit in one cache drop the entry from the memory tier of another', async () => {
  const [reader, writer] = caches(2);
  await reader.getOrSet('k', () => 'v1');
  await untilMemoryHit(reader, 'k', () => 'never');
  await writer.set('k', 'v2');
  await sleep(50); // the invalidation arrives (on loopback, well under a millisecond)
  expect(await reader.getOrSet('k', () => 'never')).toBe('v2');
  await untilMemoryHit(reader, 'k', () => 'never');
  await writer.delete('k');
  await sleep(50);
  expect(await reader.getOrSet('k', () => 'v3')).toBe('v3');
  await untilMemoryHit(reader, 'k', () => 'never');
  expect(await writer.getOrSet('k', () => 'never', { forceFresh: true }).catch(() => 'x')).toBe('never'); // a commit
  await sleep(50);
  expect(await reader.getOrSet('k', () => 'other')).toBe('never');
});

test("a cache's own write drops its entry at once, before the write resolves", async () => {
  const [cache] = caches(1);
  await cache.getOrSet('k', () => 'v1');
  await untilMemoryHit(cache, 'k', () => 'never');
  await cache.set('k', 'v2');
  expect(await cache.getOrSet('k', () => 'never')).toBe('v2');
});

test('a killed subscriber connection clears the tier: a write sent while it was down is never hidden by memory', async () => {
  const [reader] = caches(1);
  await reader.getOrSet('k', () => 'v1');
  await untilMemoryHit(reader, 'k', () => 'never');
  // In one round trip: the subscriber is killed, then the value changes (its invalidation is lost for sure).
  const ns = reader.namespace;
  const { overwrite } = leaseScripts('PUBLISH');
  const envelope = new EnvelopeFormat(v8Codec, ns).encode('v2', 'k', Date.now(), 60_000, 0, await currentStamp(admin, ns));
  await Promise.all([
    admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']),
    admin.eval(overwrite.source, { keys: [`${ns}:{k}:v`, `${ns}:{k}:lease`, `${ns}:{k}:ch`, `${ns}:{k}:backoff`], arguments: [envelope as unknown as string, '60000', `${ns}:invalidations`, 'kk'] }),
  ]);
  await sleep(100);
  expect(await reader.getOrSet('k', () => 'never')).toBe('v2');
});

test('an event loop blocked while an invalidation arrives: the tier does not answer until the loop has polled for I/O again', async () => {
  const [reader] = caches(1);
  await reader.getOrSet('k', () => 'v1');
  await untilMemoryHit(reader, 'k', () => 'never');
  const ns = reader.namespace;
  const { invalidate } = leaseScripts('PUBLISH');
  const port = new URL(redis.url).port;
  // Synchronous: while this process is blocked, the delete lands and its invalidation waits unread in
  // the subscriber's socket; then the loop stays blocked past STALL_MS.
  execFileSync('redis-cli', ['-p', port, 'EVAL', invalidate.source, '4', `${ns}:{k}:v`, `${ns}:{k}:lease`, `${ns}:{k}:ch`, `${ns}:{k}:backoff`, `${ns}:invalidations`, 'kk']);
  for (const until = Date.now() + STALL_MS + 20; Date.now() < until; );
  expect(await reader.getOrSet('k', () => 'v2')).toBe('v2');
});

test('forceFresh is never answered from memory: the function runs, and its value replaces the entry', async () => {
  const [cache] = caches(1);
  await cache.getOrSet('k', () => 'v1');
  await untilMemoryHit(cache, 'k', () => 'never');
  expect(await cache.getOrSet('k', () => 'v2', { forceFresh: true })).toBe('v2');
  expect(await cache.getOrSet('k', () => 'never')).toBe('v2');
});

test('the tier does not stretch freshness: past its ttl a value is not answered from memory', async () => {
  const [cache] = caches(1, { ttl: 400, earlyRefresh: false });
  await cache.getOrSet('k', () => 'v1');
  await untilMemoryHit(cache, 'k', () => 'never');
  await sleep(450);
  expect(await cache.getOrSet('k', () => 'v2')).toBe('v2');
});

test("callers cannot change each other's values: a hit's value is deep-frozen, from memory and from Redis alike", async () => {
  const [cache] = caches(1, { codec: v8Codec });
  const tiers: string[] = [];
  cache.on('hit', (_key, tier) => tiers.push(tier));
  await cache.getOrSet('k', () => ({ list: [1, 2], nested: { n: 1 } }));
  const fromRedis = (await cache.getOrSet<unknown>('k', () => 'never')) as { list: number[] };
  expect(tiers.at(-1)).toBe('redis');
  expect(() => fromRedis.list.push(3)).toThrow(TypeError);
  await untilMemoryHit(cache, 'k', () => 'never');
  const first = (await cache.getOrSet<unknown>('k', () => 'never')) as { list: number[]; nested: { n: number } };
  expect(tiers.at(-1)).toBe('memory');
  expect(() => first.list.push(3)).toThrow(TypeError);
  expect(() => (first.nested.n = 2)).toThrow(TypeError);
  expect(await cache.getOrSet('k', () => 'never')).toEqual({ list: [1, 2], nested: { n: 1 } });
  // A value freezing cannot protect (a Map changes through its methods) is copied for every hit instead.
  await cache.getOrSet('m', () => ({ map: new Map([['a', 1]]) }));
  await untilMemoryHit(cache, 'm', () => 'never');
  const withMap = (await cache.getOrSet<unknown>('m', () => 'never')) as { map: Map<string, number> };
  expect(Object.isFrozen(withMap)).toBe(false);
  withMap.map.set('a', 2);
  expect(((await cache.getOrSet<unknown>('m', () => 'never')) as { map: Map<string, number> }).map.get('a')).toBe(1);
});

test("{ values: 'copy' }: every memory hit decodes its own mutable copy", async () => {
  const [cache] = caches(1, { l1: { values: 'copy' } });
  await cache.getOrSet('k', () => ({ list: [1, 2] }));
  await untilMemoryHit(cache, 'k', () => 'never');
  const first = (await cache.getOrSet<unknown>('k', () => 'never')) as { list: number[] };
  first.list.push(3);
  expect(await cache.getOrSet('k', () => 'never')).toEqual({ list: [1, 2] });
});

test('Redis unreachable: an entry answers only as a stale value would, within grace; without grace the function runs', async () => {
  const own = await startRedis();
  try {
    const made = (options: CacheOptions) => {
      const cache = createCache({ redis: { url: own.url }, namespace: `down-${++count}`, l1: true, commandTimeout: 300, ...options });
      cache.on('error', () => undefined);
      open.push(cache);
      return cache;
    };
    const withGrace = made({ ttl: 60_000, grace: 60_000 });
    const noGrace = made({ ttl: 60_000 });
    const shortGrace = made({ ttl: 1_000, grace: 300, earlyRefresh: false });
    const stale: string[] = [];
    withGrace.on('stale', (key) => stale.push(key));
    const filledAt = Date.now();
    for (const cache of [withGrace, noGrace, shortGrace]) {
      await cache.getOrSet('k', () => 'v1');
      await untilMemoryHit(cache, 'k', () => 'never');
    }
    await own.stop();
    await sleep(200); // the subscriber connections have closed
    let runs = 0;
    const factory = () => `computed ${++runs}`;
    // Fresh by its age, but Redis cannot confirm it: served as a stale value...
    expect(await withGrace.getOrSet('k', factory)).toBe('v1');
    expect(stale).toEqual(['k']);
    expect(runs).toBe(0);
    // ...and with no grace, not at all: the function answers, without the cache.
    expect(await noGrace.getOrSet('k', factory)).toBe('computed 1');
    // Nor past its ttl and grace.
    expect(await shortGrace.getOrSet('k', factory)).toBe('v1');
    await sleep(filledAt + 1_900 - Date.now()); // its ttl and grace have passed (it was written after filledAt)
    expect(await shortGrace.getOrSet('k', factory)).toBe('computed 2');
  } finally {
    await own.stop().catch(() => undefined);
  }
});

test('{ l1: false } on a call bypasses the tier; maxEntries bounds it', async () => {
  const [cache] = caches(1, { l1: { maxEntries: 5 } });
  await cache.getOrSet('k', () => 'v');
  await untilMemoryHit(cache, 'k', () => 'never');
  const tiers: string[] = [];
  cache.on('hit', (_key, tier) => tiers.push(tier));
  await cache.getOrSet('k', () => 'never', { l1: false });
  expect(tiers).toEqual(['redis']);
  for (let i = 0; i < 50; i++) await cache.getOrSet(`k${i}`, () => i);
  expect((cache as unknown as { memory: { size: number } }).memory.size).toBeLessThanOrEqual(5);
});

test('bad l1 options are refused with InvalidOptionError naming the option', () => {
  for (const [l1, option] of [[{ maxEntries: 0 }, 'l1.maxEntries'], [{ maxBytes: '64 megs' }, 'l1.maxBytes'], [{ max: 1 }, 'l1.max'], [{ values: 'shared' }, 'l1.values'], ['yes', 'l1'], [null, 'l1']] as const) {
    let thrown: unknown;
    try {
      createCache({ redis: { url: redis.url }, l1: l1 as never });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
  }
});

test('the fill race: bytes whose read was sent before an invalidation of their key arrived are not kept', async () => {
  const [cache] = caches(1);
  await cache.getOrSet('k', () => 'v');
  await untilMemoryHit(cache, 'k', () => 'never');
  type Tier = { ticket(): number; fill(k: string, b: Buffer, e: Envelope, t: number): unknown; invalidated(k: string): void; get(k: string, now: number): Envelope | undefined };
  const memory = (cache as unknown as { memory: Tier }).memory;
  const bytes = Buffer.from('bytes');
  const envelope = (): Envelope => ({ value: { v: 1 }, writtenAt: Date.now(), expiresAt: Date.now() + 60_000, delta: 0, stamp: { tags: [], versions: [] } });
  const raced = memory.ticket(); // a read is sent...
  memory.invalidated('a'); // ...an invalidation of its key arrives before its reply...
  memory.fill('a', bytes, envelope(), raced); // ...so the reply is not kept
  expect(memory.get('a', Date.now())).toBeUndefined();
  const other = memory.ticket();
  memory.invalidated('b'); // another key's invalidation does not matter
  memory.fill('a', bytes, envelope(), other);
  expect(memory.get('a', Date.now())?.value).toEqual({ v: 1 });
});

/** A TCP proxy to Redis whose connections can be frozen: they stay open and carry nothing. */
async function freezableProxy(port: number): Promise<{ url: string; freeze(): void; thaw(): void; close(): void }> {
  const pairs: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    for (const socket of [client, upstream]) socket.on('error', () => undefined);
    pairs.push(client, upstream);
    links.push([client, upstream], [upstream, client]);
  });
  const links: [Socket, Socket][] = [];
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    freeze: () => pairs.forEach((socket) => {
      socket.unpipe();
      socket.pause();
    }),
    thaw: () => links.forEach(([from, to]) => {
      from.pipe(to);
      from.resume();
    }),
    close: () => {
      pairs.forEach((socket) => socket.destroy());
      server.close();
    },
  };
}

test('a subscription that is silently dead (the connection looks up, nothing arrives) stops the tier within its bound', async () => {
  const port = Number(new URL(redis.url).port);
  const proxy = await freezableProxy(port);
  try {
    const namespace = `l1-${++count}`;
    const reader = createCache({ redis: { url: proxy.url }, namespace, l1: true, commandTimeout: 200 });
    const writer = createCache({ redis: { url: redis.url }, namespace });
    reader.on('error', () => undefined);
    open.push(writer);
    await reader.getOrSet('k', () => 'v1');
    await untilMemoryHit(reader, 'k', () => 'never');
    proxy.freeze();
    const frozenAt = Date.now();
    await writer.set('k', 'v2'); // its invalidation never reaches the reader
    let lastOld = 0;
    while (Date.now() - frozenAt < DEAD_AFTER_MS + 2 * ECHO_MS + 1_000) {
      const value = await reader.getOrSet('k', () => 'uncached');
      if (value === 'v1') lastOld = Date.now() - frozenAt;
      await sleep(25);
    }
    // The old value was served from memory only until the missing echoes gave the subscription up.
    expect(lastOld).toBeLessThanOrEqual(DEAD_AFTER_MS + 2 * ECHO_MS);
    expect(await writer.getOrSet('k', () => 'never')).toBe('v2');
    proxy.thaw();
    await reader.close();
  } finally {
    proxy.close();
  }
});
