import { createClient } from 'redis';
import {
  ClosedError,
  createCache,
  EncodeError,
  InvalidOptionError,
  jsonCodec,
  WaitTimeoutError,
  type Cache,
  type CacheOptions,
} from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { richValue } from './fixtures/values';

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const caches: Cache[] = [];
let namespaceCount = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

function cache(options: CacheOptions = {}): Cache {
  const created = createCache({ redis: { url: redis.url }, namespace: `api${++namespaceCount}`, ...options });
  caches.push(created);
  return created;
}

/** A second cache on the same namespace with its own connection, as another process would have. */
function twin(of: Cache, options: CacheOptions = {}): Cache {
  const created = createCache({ redis: { url: redis.url }, namespace: of.namespace, ...options });
  caches.push(created);
  return created;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('values come back exactly as returned', () => {
  test('rich values: the caller that computed and a reader on another connection get equal values of the same types', async () => {
    const writer = cache();
    const computed = await writer.getOrSet('rich', () => richValue());
    const read = await twin(writer).getOrSet('rich', () => 'never');
    expect(read).toEqual(computed);
    // Type tags, not instanceof: jest runs tests in a separate realm from the one V8 deserializes into.
    const value = read as unknown as Record<string, any>;
    const tag = (x: unknown) => Object.prototype.toString.call(x);
    expect(tag(value.date)).toBe('[object Date]');
    expect(tag(value.map)).toBe('[object Map]');
    expect(tag(value.set)).toBe('[object Set]');
    expect(typeof value.big).toBe('bigint');
    expect(tag(value.regexp)).toBe('[object RegExp]');
    expect(String(value.regexp)).toBe('/herd(less)?/gi');
    expect(tag(value.bytes)).toBe('[object Uint8Array]');
    expect(Object.is(value.negativeZero, -0)).toBe(true);
    expect(value.cyclic.self).toBe(value.cyclic);
    expect('undef' in value).toBe(true);
  });

  test.each([0, '', false, null, undefined, NaN])('the falsy value %p is a hit, not a miss', async (falsy) => {
    const first = cache();
    let runs = 0;
    expect(Object.is(await first.getOrSet('falsy', () => (runs++, falsy)), falsy)).toBe(true);
    expect(Object.is(await twin(first).getOrSet('falsy', () => (runs++, 'recomputed')), falsy)).toBe(true);
    expect(runs).toBe(1);
  });

  test('a value the codec cannot encode is an EncodeError to the caller and nothing is cached', async () => {
    const c = cache();
    await expect(c.getOrSet('fn', () => () => 1)).rejects.toBeInstanceOf(EncodeError);
    await expect(c.getOrSet('sym', () => Symbol('x'))).rejects.toThrow(/cannot be stored by the codec/);
    await expect(c.set('fn', { f() {} })).rejects.toBeInstanceOf(EncodeError);
    expect(await admin.exists([`${c.namespace}:{fn}:v`, `${c.namespace}:{sym}:v`, `${c.namespace}:{fn}:lease`])).toBe(0);
    expect(await c.getOrSet('fn', () => 'next call starts fresh')).toBe('next call starts fresh');
  });

  test('the JSON codec round-trips JSON values and refuses what JSON cannot hold', async () => {
    const c = cache({ codec: jsonCodec });
    expect(await c.getOrSet('j', () => ({ a: [1, 'two', null], b: { c: true } }))).toEqual({ a: [1, 'two', null], b: { c: true } });
    expect(await twin(c, { codec: jsonCodec }).get('j')).toEqual({ a: [1, 'two', null], b: { c: true } });
    // The JSON text ends the envelope; the binary header and tag stamp before it may hold a '{' byte of their own.
    const stored = (await admin.get(`${c.namespace}:{j}:v`))!;
    expect(JSON.parse(stored.slice(stored.indexOf('{"a"')))).toEqual({
      a: [1, 'two', null],
      b: { c: true },
    });
    await expect(c.getOrSet('u', () => undefined)).rejects.toBeInstanceOf(EncodeError);
    await expect(c.getOrSet('b', () => 1n)).rejects.toBeInstanceOf(EncodeError);
  });

  test('a value written with another codec is treated as missing and recomputed, with an error event', async () => {
    const json = cache({ codec: jsonCodec });
    await json.set('k', 'from json');
    const v8 = twin(json);
    const errors: unknown[] = [];
    v8.on('error', (error) => errors.push(error));
    expect(await v8.getOrSet('k', () => 'from v8')).toBe('from v8');
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('get, set, delete', () => {
  test('set then get; delete reports whether a value was removed', async () => {
    const c = cache();
    expect(await c.get('k')).toBeUndefined();
    await c.set('k', new Map([[1, 'one']]), { ttl: '1m' });
    expect(await c.get('k')).toEqual(new Map([[1, 'one']]));
    expect(await admin.pTTL(`${c.namespace}:{k}:v`)).toBeGreaterThan(50_000);
    expect(await c.delete('k')).toBe(true);
    expect(await c.delete('k')).toBe(false);
    expect(await c.get('k')).toBeUndefined();
  });

  test('ttl: the per-call ttl wins over the cache default, and the value expires', async () => {
    const c = cache({ ttl: '1h' });
    await c.getOrSet('short', () => 1, { ttl: 150 });
    await c.getOrSet('long', () => 1);
    expect(await admin.pTTL(`${c.namespace}:{short}:v`)).toBeLessThanOrEqual(150);
    expect(await admin.pTTL(`${c.namespace}:{long}:v`)).toBeGreaterThan(3_500_000);
    await sleep(250);
    expect(await c.getOrSet('short', () => 2)).toBe(2);
  });
});

describe('waiting', () => {
  async function slowLeader(c: Cache, key: string, ms: number) {
    const started = new Promise<void>((resolve) => c.once('lead', () => resolve()));
    const result = c.getOrSet(key, () => sleep(ms).then(() => 'leader'));
    await started;
    return { result };
  }

  test("onTimeout 'throw': a waiter gives up with WaitTimeoutError naming the key and the fix", async () => {
    const leader = cache();
    const { result: leading } = await slowLeader(leader, 'slow', 800);
    const impatient = twin(leader, { wait: { timeout: 100, onTimeout: 'throw' } });
    const error = await impatient.getOrSet('slow', () => 'never').catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.message).toMatch(/'slow'.*wait\.timeout/);
    expect(await leading).toBe('leader');
  });

  test("onTimeout 'compute' (default): a waiter computes for itself without writing; the leader's value is cached", async () => {
    const leader = cache();
    const { result: leading } = await slowLeader(leader, 'slow', 800);
    const impatient = twin(leader, { wait: { timeout: 100 } });
    expect(await impatient.getOrSet('slow', () => 'own')).toBe('own');
    expect(await leading).toBe('leader');
    expect(await impatient.get('slow')).toBe('leader');
  });

  test('events tell hit, miss, lead, wait', async () => {
    const leader = cache();
    const waiter = twin(leader);
    const seen: string[] = [];
    for (const c of [leader, waiter]) {
      for (const event of ['hit', 'miss', 'lead', 'wait', 'takeover', 'fence'] as const) {
        c.on(event, (...[key]: unknown[]) => {
          seen.push(`${c === leader ? 'leader' : 'waiter'} ${event} ${key}`);
        });
      }
    }
    const { result: leading } = await slowLeader(leader, 'e', 200);
    await waiter.getOrSet('e', () => 'never');
    await leading;
    await waiter.getOrSet('e', () => 'never');
    expect(seen).toEqual(['leader miss e', 'leader lead e', 'waiter miss e', 'waiter wait e', 'waiter hit e']);
  });
});

describe('connections', () => {
  test("close() closes the cache's own connections and leaves a client the user owns open", async () => {
    const own = createClient({ url: redis.url });
    await own.connect();
    const borrowed = createCache({ redis: own, namespace: 'borrowed' });
    const waiting = twin(borrowed);
    // Make the borrowing cache open its subscriber connection by waiting once.
    const leading = waiting.getOrSet('k', () => sleep(100).then(() => 1));
    await sleep(20);
    expect(await borrowed.getOrSet('k', () => 2)).toBe(1);
    await leading;
    await borrowed.close();
    expect(own.isOpen).toBe(true);
    expect(await own.ping()).toBe('PONG');
    await own.quit();
    await expect(borrowed.getOrSet('k', () => 3)).rejects.toBeInstanceOf(ClosedError);
  });

  test('no explicit connect: the first call connects', async () => {
    const c = cache();
    expect(await c.getOrSet('k', () => 'v')).toBe('v');
  });

  test("a user's client that is not connected yet is connected by the first call", async () => {
    const own = createClient({ url: redis.url });
    const c = createCache({ redis: own, namespace: 'lazy' });
    expect(await c.getOrSet('k', () => 'v')).toBe('v');
    expect(await c.get('k')).toBe('v');
    await c.close();
    expect(own.isOpen).toBe(true);
    await own.quit();
  });
});

describe('bad input is a typed error naming the option and the fix', () => {
  test.each<[string, CacheOptions, RegExp]>([
    ['ttl as words', { ttl: '5 minutes' as never }, /option 'ttl' must be a duration.*'5 minutes'/],
    ['negative ttl', { ttl: -1 }, /option 'ttl' must be a duration greater than 0; got -1/],
    ['NaN ttl', { ttl: NaN }, /option 'ttl' must be a duration greater than 0; got NaN/],
    ['zero ttl', { ttl: 0 }, /option 'ttl' must be a duration greater than 0/],
    ['lease ttl', { lease: { ttl: '10 s' as never } }, /option 'lease.ttl'/],
    ['wait timeout', { wait: { timeout: -5 } }, /option 'wait.timeout' must be a duration of 0 or more/],
    ['onTimeout', { wait: { onTimeout: 'retry' as never } }, /option 'wait.onTimeout' must be 'compute' or 'throw'; got 'retry'/],
    ['commandTimeout', { commandTimeout: Infinity }, /option 'commandTimeout'/],
    ['namespace with braces', { namespace: 'a{b}' }, /option 'namespace' must be a non-empty string without '\{' or '\}'/],
    ['empty namespace', { namespace: '' }, /option 'namespace'/],
    ['codec without decode', { codec: { name: 'x', encode: () => Buffer.alloc(0) } as never }, /option 'codec'/],
    ['unknown option', { tll: '5m' } as never, /unknown option 'tll'; known options are redis, namespace, ttl/],
    ['unknown nested option', { lease: { ttl: '1s', renew: true } } as never, /unknown option 'lease.renew'/],
    ['redis as a string', { redis: 'redis://x' as never }, /option 'redis'/],
  ])('createCache: %s', (_, options, message) => {
    expect(() => createCache(options)).toThrow(InvalidOptionError);
    expect(() => createCache(options)).toThrow(message);
  });

  test('getOrSet and friends', async () => {
    const c = cache();
    await expect(c.getOrSet('', () => 1)).rejects.toThrow(/option 'key' must be a non-empty string; got ''/);
    await expect(c.getOrSet(42 as never, () => 1)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(c.getOrSet('}x', () => 1)).rejects.toThrow(/must be a string that does not start with '\}'/);
    await expect(c.getOrSet('k', 'value' as never)).rejects.toThrow(/option 'factory' must be a function/);
    await expect(c.getOrSet('k', () => 1, { ttl: '1 hour' as never })).rejects.toThrow(/option 'ttl'/);
    await expect(c.getOrSet('k', () => 1, { tl: 5 } as never)).rejects.toThrow(/unknown option 'tl'/);
    await expect(c.set('k', 1, { ttl: -1 })).rejects.toThrow(/option 'ttl'/);
    await expect(c.get('')).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(c.delete(null as never)).rejects.toBeInstanceOf(InvalidOptionError);
    expect(await admin.keys(`${c.namespace}:*`)).toEqual([]);
  });

  test('durations accept every documented form', async () => {
    const c = cache();
    for (const [ttl, ms] of [[1500, 1500], ['250ms', 250], ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000], ['1.5s', 1500]] as const) {
      await c.set('d', 1, { ttl });
      const left = await admin.pTTL(`${c.namespace}:{d}:v`);
      expect(left).toBeGreaterThan(ms - 100);
      expect(left).toBeLessThanOrEqual(ms);
    }
  });
});

test('parseDuration: a duration known only at run time is checked like an option, without a cast', async () => {
  const { parseDuration } = await import('../src');
  const fromEnv: string = ' 90s ';
  const c = cache({ ttl: parseDuration(fromEnv, 'CACHE_TTL') });
  await c.set('k', 1);
  const pttl = await admin.pTTL(`${c.namespace}:{k}:v`);
  expect(pttl).toBeGreaterThan(80_000);
  expect(pttl).toBeLessThanOrEqual(90_000);
  expect(parseDuration(250)).toBe(250);
  expect(() => parseDuration('5 minutes', 'CACHE_TTL')).toThrow(InvalidOptionError);
  expect(() => parseDuration('5 minutes', 'CACHE_TTL')).toThrow(/option 'CACHE_TTL' must be a duration/);
});

test('option errors name where the option was written', async () => {
  expect(() => createCache({ ttl: '5 minutes' as never })).toThrow(/^herdless: createCache: option 'ttl' must be a duration/);
  expect(() => createCache({ lease: { ttl: 0 } })).toThrow(/^herdless: createCache: option 'lease\.ttl'/);
  const c = cache();
  await expect(c.getOrSet('k', () => 1, { ttl: '5 minutes' as never })).rejects.toThrow(/^herdless: getOrSet: option 'ttl' must be a duration/);
  await expect(c.set('k', 1, { ttl: -1 })).rejects.toThrow(/^herdless: set: option 'ttl'/);
  await expect(c.get('')).rejects.toThrow(/^herdless: get: option 'key'/);
  await expect(c.delete('')).rejects.toThrow(/^herdless: delete: option 'key'/);
});
