import { commandOptions, createClient } from 'redis';
import { createCache, InvalidOptionError, RedisUnavailableError, type Cache, type CacheOptions } from '../src';
import { EnvelopeFormat } from '../src/envelope';
import { v8Codec } from '../src/codec/v8';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { Monitor, tally } from './fixtures/monitor';
import { settled } from './fixtures/settled';
import { tagMessage } from '../src/bus/invalidations';

// Tags, clear() and their judgement, on one Redis; several caches in this process stand for processes
// (each has its own invalidation channel and its own versions).

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let monitor: Monitor;
const caches: Cache[] = [];
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  monitor = await Monitor.start(redis.port);
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  monitor.stop();
  await admin.quit();
  await redis.stop();
});

/** A namespace of its own per test, `count` caches on it. */
function fleet(count: number, options: Omit<CacheOptions, 'redis' | 'namespace'> = {}): Cache[] {
  const namespace = `tags${++n}`;
  return Array.from({ length: count }, () => {
    const c = createCache({ redis: { url: redis.url }, namespace, ...options });
    c.on('error', () => undefined);
    caches.push(c);
    return c;
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (check: () => Promise<boolean> | boolean, what: string, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
};

/** A function whose first run waits for release(); each run returns `v<run>`. */
function firstRunHeld() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let runs = 0;
  const fn = async () => {
    const run = ++runs;
    if (run === 1) await gate;
    return `v${run}`;
  };
  return { fn, release, runs: () => runs };
}

/** A factory counting its runs. */
function counted(value: (run: number) => unknown, delayMs = 0) {
  const f = Object.assign(
    async () => {
      const run = ++f.runs;
      if (delayMs > 0) await sleep(delayMs);
      return value(run);
    },
    { runs: 0 },
  );
  return f;
}

describe('invalidateTags', () => {
  test.each([
    ['from Redis', false],
    ['from the memory tier', true],
  ])('invalidates every entry carrying the tag, in every cache, and nothing else (%s)', async (_, l1) => {
    const [a, b] = fleet(2, { l1 });
    const product = counted((run) => `product v${run}`);
    const other = counted((run) => `other v${run}`);
    const untagged = counted((run) => `untagged v${run}`);
    for (const c of [a, b]) {
      await c.getOrSet('p', product, { tags: ['product:42', 'catalog'] });
      await c.getOrSet('o', other, { tags: ['product:7'] });
      await c.getOrSet('u', untagged);
    }
    await settled(a, 'p');
    await settled(b, 'p');
    expect([product.runs, other.runs, untagged.runs]).toEqual([1, 1, 1]);

    await a.invalidateTags(['product:42']);
    // In the cache that invalidated: at once.
    expect(await a.getOrSet('p', product, { tags: ['product:42', 'catalog'] })).toBe('product v2');
    // In the other: once the channel delivered it; never the old value after that.
    await until(async () => (await b.getOrSet('p', product, { tags: ['product:42', 'catalog'] })) === 'product v2', 'b to see the invalidation', 2_000);
    expect(product.runs).toBe(2);
    for (const c of [a, b]) {
      expect(await c.getOrSet('o', other, { tags: ['product:7'] })).toBe('other v1');
      expect(await c.getOrSet('u', untagged)).toBe('untagged v1');
    }
    expect([other.runs, untagged.runs]).toEqual([1, 1]);

    // A tag the entry carries besides: invalidating 'catalog' invalidates it too.
    await b.invalidateTags(['catalog']);
    expect(await b.getOrSet('p', product, { tags: ['product:42', 'catalog'] })).toBe('product v3');
  });

  test('costs one script per tag, with no SCAN or KEYS, whether 1 or 2,000 entries carry the tag', async () => {
    const [c] = fleet(1);
    await c.getOrSet('one', () => 1, { tags: ['few'] });
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => c.getOrSet(`k${i}`, () => i, { tags: ['many'] })));
    const few = tally(await monitor.record(admin, () => c.invalidateTags(['few'])));
    const many = tally(await monitor.record(admin, () => c.invalidateTags(['many'])));
    expect(few).toEqual({ evalsha: 1 });
    expect(many).toEqual({ evalsha: 1 });
    // Every entry carrying it is invalid all the same, judged when read.
    let runs = 0;
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => c.getOrSet(`k${i}`, () => ++runs, { tags: ['many'] })));
    expect(runs).toBe(2_000);
  });

  test('a tagged hit is one GET in steady state, with 5 tags as with none', async () => {
    const [c] = fleet(1);
    const tags = ['t1', 't2', 't3', 't4', 't5'];
    await c.getOrSet('tagged', () => 'v', { tags });
    await settled(c, 'tagged');
    await c.getOrSet('tagged', () => 'never', { tags });
    const used = tally(
      await monitor.record(admin, async () => {
        for (let i = 0; i < 50; i++) expect(await c.getOrSet('tagged', () => 'never', { tags })).toBe('v');
      }),
    );
    expect(used).toEqual({ get: 50 });
  });

  test('an invalidation that lands while the function runs: its result is handed to its caller, not served to later calls', async () => {
    const [a, b] = fleet(2);
    const { fn: slow, release, runs } = firstRunHeld();
    const first = a.getOrSet('k', slow, { tags: ['t'] });
    await until(() => runs() === 1, 'the function to start');
    await b.invalidateTags(['t']);
    release();
    expect(await first).toBe('v1');
    // Nothing from before the invalidation: not in a, not in b.
    expect(await b.getOrSet('k', slow, { tags: ['t'] })).toBe('v2');
    expect(await a.getOrSet('k', slow, { tags: ['t'] })).toBe('v2');
    expect(runs()).toBe(2);
  });

  test('voids the lease of a computation in flight, as delete() does: a waiter elsewhere takes over at once', async () => {
    const [leader, waiter] = fleet(2, { lease: { ttl: '20s' } });
    await settled(leader, await seeded(leader));
    await settled(waiter, await seeded(waiter));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const leading = leader.getOrSet('k', async () => {
      await gate;
      return 'computed before the invalidation';
    }, { tags: ['t'] });
    await until(async () => (await admin.exists(`${leader.namespace}:{k}:lease`)) === 1, 'the lease');
    const waited = waiter.getOrSet('k', async () => 'computed after the invalidation', { tags: ['t'] });
    await sleep(50);
    const startedAt = Date.now();
    await waiter.invalidateTags(['t']);
    // The waiter does not wait out the 20 s lease, nor the leader's function (still blocked).
    expect(await waited).toBe('computed after the invalidation');
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    release();
    expect(await leading).toBe('computed before the invalidation');
    // The late result is fenced: what Redis holds is the waiter's.
    expect(await waiter.getOrSet('k', async () => 'never', { tags: ['t'] })).toBe('computed after the invalidation');
    expect(await leader.getOrSet('k', async () => 'never', { tags: ['t'] })).toBe('computed after the invalidation');
  });

  test("a call after invalidateTags resolved never joins this process's flight that started before it", async () => {
    const [c] = fleet(1);
    await settled(c, await seeded(c));
    const { fn, release, runs } = firstRunHeld();
    const before = c.getOrSet('k', fn, { tags: ['t'] });
    await until(() => runs() === 1, 'the function to start');
    await c.invalidateTags(['t']);
    const after = c.getOrSet('k', fn, { tags: ['t'] });
    release();
    expect(await before).toBe('v1');
    expect(await after).toBe('v2');
  });

  test('forceFresh: a forced call after invalidateTags resolved never joins a forced computation from before it', async () => {
    const [c] = fleet(1);
    await settled(c, await seeded(c));
    const { fn, release, runs } = firstRunHeld();
    const before = c.getOrSet('k', fn, { tags: ['t'], forceFresh: true });
    await until(() => runs() === 1, 'the function to start');
    await c.invalidateTags(['t']);
    const after = c.getOrSet('k', fn, { tags: ['t'], forceFresh: true });
    release();
    expect(await before).toBe('v1');
    expect(await after).toBe('v2');
  });

  test('a leader that did not hear of the invalidation (its message lost) does not write its result: the versions taken before it ran are checked in Redis', async () => {
    const [leader, reader] = fleet(2);
    await settled(leader, await seeded(leader));
    const fenced: string[] = [];
    leader.on('fence', (key) => fenced.push(key));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const leading = leader.getOrSet('k', async () => {
      await gate;
      return 'read before the change';
    }, { tags: ['t'] });
    await until(async () => (await admin.exists(`${leader.namespace}:{k}:lease`)) === 1, 'the lease');
    // In one round trip: every subscriber is killed, then the tag changes: its message is lost for sure.
    const { bumpVersion } = await import('../src/tags/scripts');
    await Promise.all([
      admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']),
      admin.eval(bumpVersion.source, { keys: [`${leader.namespace}:tag:{t}`], arguments: ['changed', `${leader.namespace}:invalidations`, tagMessage('t', 'changed')] }),
    ]);
    await sleep(200); // the leader's channel is trusted again by now, without having heard of it
    release();
    expect(await leading).toBe('read before the change');
    expect(fenced).toEqual(['k']);
    expect(await admin.exists(`${leader.namespace}:{k}:v`)).toBe(0);
    expect(await reader.getOrSet('k', async () => 'read after the change', { tags: ['t'] })).toBe('read after the change');
  });

  test('set() stores tags too; get() and cache hits never return an invalidated value', async () => {
    const [a, b] = fleet(2);
    await a.set('k', 'written', { tags: ['t'] });
    expect(await b.get('k')).toBe('written');
    await a.invalidateTags(['t']);
    expect(await a.get('k')).toBeUndefined();
    expect(await b.getOrSet('k', () => 'recomputed', { tags: ['t'] })).toBe('recomputed');
  });

  test("a tag's version key that is lost (evicted, deleted) makes its entries invalid: never valid again", async () => {
    const [c] = fleet(1);
    // Stamped with the tag's first version: the one a scheme starting over (a counter from 0, "no version
    // yet") would hand out again once the key is gone.
    await c.getOrSet('k', () => 'v1', { tags: ['t'] });
    await c.invalidateTags(['t']);
    // The tag key goes: a process reading it now gets a new version, never an old one back.
    await admin.del(`${c.namespace}:tag:{t}`);
    const fresh = createCache({ redis: { url: redis.url }, namespace: c.namespace });
    caches.push(fresh);
    expect(await fresh.getOrSet('k', () => 'v2', { tags: ['t'] })).toBe('v2');
  });

  test('bad tags are typed errors where they are passed, and nothing is written', async () => {
    const [c] = fleet(1);
    const cases: unknown[] = [[''], [42], 'product', [' ok', null], Array.from({ length: 65 }, (_, i) => `t${i}`), ['\0reserved'], ['bad\ud800'], ['x'.repeat(257)]];
    for (const tags of cases) {
      await expect(c.getOrSet('k', () => 1, { tags: tags as string[] })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(c.set('k', 1, { tags: tags as string[] })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(c.invalidateTags(tags as string[])).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await expect(c.getOrSet('k', () => 1, { tags: [''] })).rejects.toThrow(/option 'tags\[0\]'/);
    await expect(c.invalidateTags(Array.from({ length: 65 }, (_, i) => `t${i}`))).rejects.toThrow(/at most 64 tags/);
    expect(await admin.keys(`${c.namespace}:*`)).toEqual([]);
    // A tag given twice is one tag: stored (and judged) as given, invalidated once.
    expect(await c.getOrSet('k', () => 'ok', { tags: ['a', 'a'] })).toBe('ok');
    expect(tally(await monitor.record(admin, () => c.invalidateTags(['a', 'a'])))).toEqual({ evalsha: 1 });
    expect(await c.getOrSet('k', () => 'recomputed', { tags: ['a', 'a'] })).toBe('recomputed');
  });

  test('Redis unreachable: invalidateTags rejects with RedisUnavailableError', async () => {
    const c = createCache({ redis: { url: 'redis://127.0.0.1:1' }, namespace: 'nowhere', commandTimeout: 200 });
    c.on('error', () => undefined);
    caches.push(c);
    await expect(c.invalidateTags(['t'])).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(c.clear()).rejects.toBeInstanceOf(RedisUnavailableError);
  });
});

describe('clear()', () => {
  test.each([
    ['from Redis', false],
    ['from the memory tier', true],
  ])('invalidates every entry of the namespace in every cache, tagged or not, and no other namespace (%s)', async (_, l1) => {
    const [a, b] = fleet(2, { l1 });
    const other = createCache({ redis: { url: redis.url }, namespace: `${a.namespace}-other` });
    caches.push(other);
    for (const c of [a, b]) {
      await c.getOrSet('x', () => 'x1');
      await c.getOrSet('y', () => 'y1', { tags: ['t'] });
    }
    await other.getOrSet('x', () => 'other x1');
    await settled(b, 'x');
    await a.clear();
    expect(await a.getOrSet('x', () => 'x2')).toBe('x2');
    await until(async () => (await b.getOrSet('y', () => 'y2', { tags: ['t'] })) === 'y2', 'b to see the clear', 2_000);
    expect(await b.getOrSet('x', () => 'never')).toBe('x2');
    expect(await other.getOrSet('x', () => 'never')).toBe('other x1');
  });

  test('is one write, however many entries', async () => {
    const [c] = fleet(1);
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => c.getOrSet(`k${i}`, () => i)));
    expect(tally(await monitor.record(admin, () => c.clear()))).toEqual({ evalsha: 1 });
  });

  test('ends computations in flight: a call after clear() resolved never gets a value from before it', async () => {
    const [a, b] = fleet(2);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const before = a.getOrSet('k', async () => {
      await gate;
      return 'before';
    });
    await until(async () => (await admin.exists(`${a.namespace}:{k}:lease`)) === 1, 'the lease');
    await a.clear();
    const afterHere = a.getOrSet('k', async () => 'after');
    release();
    expect(await before).toBe('before');
    expect(await afterHere).toBe('after');
    expect(await b.getOrSet('k', async () => 'never')).toBe('after');
  });
});

describe('the invalidation channel lost', () => {
  test('a cache whose subscription is killed while a tag is invalidated never serves the invalidated value', async () => {
    const [writer, reader] = fleet(2, { l1: true });
    await reader.getOrSet('k', () => 'v1', { tags: ['t'] });
    await reader.getOrSet('k2', () => 'k2 v1', { tags: ['t'] });
    await settled(reader, 'k');
    await reader.getOrSet('k2', () => 'never', { tags: ['t'] });
    await settled(writer, 'k');
    // In one round trip: every subscriber connection is killed, then the tag is invalidated, so the
    // reader's message is lost for sure.
    const { bumpVersion } = await import('../src/tags/scripts');
    await Promise.all([
      admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']),
      admin.eval(bumpVersion.source, { keys: [`${reader.namespace}:tag:{t}`], arguments: ['lost-version', `${reader.namespace}:invalidations`, tagMessage('t', 'lost-version')] }),
    ]);
    await sleep(100); // the connection's close reaches the reader (as a lost message would not)
    for (let i = 0; i < 20; i++) expect(await reader.getOrSet('k', () => 'v2', { tags: ['t'] })).toBe('v2');
    // Once trusted again, what was known before the loss is not trusted: k2, untouched meanwhile, is judged anew.
    await settled(reader, 'k');
    expect(await reader.getOrSet('k2', () => 'k2 v2', { tags: ['t'] })).toBe('k2 v2');
    // Caching resumes: hits cost one GET (or nothing, from memory).
    await reader.getOrSet('k', () => 'never', { tags: ['t'] });
    const used = tally(await monitor.record(admin, () => reader.getOrSet('k', () => 'never', { tags: ['t'] })));
    expect(used.evalsha ?? 0).toBe(0);
  });

  test('without a trusted channel the versions are read from Redis, once per tag for calls made together', async () => {
    const [c] = fleet(1);
    await c.getOrSet('k', () => 'v', { tags: ['a', 'b'] });
    await settled(c, 'k');
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await until(() => !(c as unknown as { channel: { trusted: boolean } }).channel.trusted, 'the channel to be untrusted', 2_000);
    const used = tally(await monitor.record(admin, () => Promise.all(Array.from({ length: 20 }, () => c.getOrSet('k', () => 'never', { tags: ['a', 'b'] })))));
    // One GET (the flight), and one version read per name: the epoch, a and b.
    expect(used).toEqual({ get: 1, evalsha: 3 });
  });
});

describe('Redis unreachable', () => {
  test('the memory tier never answers an entry this process heard was invalidated, even within grace', async () => {
    const own = await startRedis();
    try {
      const made = () => {
        const c = createCache({ redis: { url: own.url }, namespace: 'down', l1: true, ttl: 60_000, grace: 60_000, commandTimeout: 300 });
        c.on('error', () => undefined);
        caches.push(c);
        return c;
      };
      const [reader, writer] = [made(), made()];
      await reader.getOrSet('tagged', () => 'v1', { tags: ['t'] });
      await reader.getOrSet('other', () => 'o1', { tags: ['u'] });
      await settled(reader, 'tagged');
      await settled(writer, 'tagged');
      // Both read again now that the channel is trusted: kept in memory.
      const tiers: string[] = [];
      reader.on('hit', (_key, tier) => tiers.push(tier));
      await reader.getOrSet('other', () => 'never', { tags: ['u'] });
      await reader.getOrSet('other', () => 'never', { tags: ['u'] });
      expect(tiers.at(-1)).toBe('memory');
      await writer.invalidateTags(['t']);
      await sleep(50); // the message reaches the reader
      await own.stop();
      await sleep(200);
      // Served from memory as stale: 'other' (nothing said it changed); never 'tagged'.
      expect(await reader.getOrSet('other', () => 'computed', { tags: ['u'] })).toBe('o1');
      expect(await reader.getOrSet('tagged', () => 'computed', { tags: ['t'] })).toBe('computed');
    } finally {
      await own.stop().catch(() => undefined);
    }
  });
});

describe('the stored value', () => {
  test('carries its tags and their versions, taken before the function ran', async () => {
    const [c] = fleet(1);
    await c.getOrSet('k', () => 'v', { tags: ['product:1'] });
    const bytes = await admin.get(commandOptions({ returnBuffers: true }), `${c.namespace}:{k}:v`);
    const envelope = new EnvelopeFormat(v8Codec).decode(bytes!);
    expect(envelope?.stamp.tags).toEqual(['\0', 'product:1']);
    expect(envelope?.stamp.versions).toEqual([await admin.get(`${c.namespace}:epoch`), await admin.get(`${c.namespace}:tag:{product:1}`)]);
  });
});

describe('the stamp format', () => {
  const format = new EnvelopeFormat(v8Codec);
  const stamp = (...tags: string[]) => ({ tags: ['\0', ...tags], versions: ['e', ...tags.map((t) => `v-${t}`)] });

  test('a stamp found again by its hash is checked against its bytes: a forged or colliding hash decodes its own tags', () => {
    const a = format.encode('x', 'k', Date.now(), 60_000, 0, stamp('product:1'));
    expect(format.decode(a)?.stamp.tags).toEqual(['\0', 'product:1']);
    const b = format.encode('x', 'k', Date.now(), 60_000, 0, stamp('product:2'));
    // Give b the hash of a's stamp: same length, other bytes. The stamp's head follows the codec name, the times and the key's hash.
    const header = a.indexOf(Buffer.from('v8')) + 2 + 24 + 4;
    a.copy(b, header + 2, header + 2, header + 6);
    expect(b.readUInt32LE(header + 2)).toBe(a.readUInt32LE(header + 2));
    expect(format.decode(b)?.stamp.tags).toEqual(['\0', 'product:2']);
    expect(format.decode(a)?.stamp.tags).toEqual(['\0', 'product:1']);
  });

  test('a truncated or malformed stamp reads as unreadable, never as another stamp', () => {
    const good = format.encode('x', 'k', Date.now(), 60_000, 0, stamp('t'));
    const header = good.indexOf(Buffer.from('v8')) + 2 + 24 + 4;
    const count = Buffer.from(good);
    count.writeUInt16LE(0, header);
    expect(format.decode(count)).toBeUndefined();
    const long = Buffer.from(good);
    long.writeUInt32LE(1_000_000, header + 6);
    expect(format.decode(long)).toBeUndefined();
    expect(format.decode(good.subarray(0, header + 12))).toBeUndefined();
    const noEpoch = format.encode('x', 'k', Date.now(), 60_000, 0, { tags: ['a'], versions: ['v'] });
    expect(format.decode(noEpoch)).toBeUndefined();
  });
});

/** Gives the cache a key holding a value, for settled(). */
async function seeded(c: Cache): Promise<string> {
  await c.getOrSet('seed', () => 'seed');
  return 'seed';
}
