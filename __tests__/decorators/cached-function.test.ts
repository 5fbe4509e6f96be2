import { cached, NoCacheError, setDefaultCache, UnkeyableArgumentError } from '../../decorators';
import { createCache, InvalidOptionError } from '../../src';
import { Runs, useRedis } from './helpers';

const redis = useRedis();

/** A lookup whose runs are counted; async like a database call. */
function users(runs: Runs) {
  return async function loadUser(id: string, options?: { withPosts?: boolean }) {
    runs.count('loadUser');
    await new Promise((resolve) => setImmediate(resolve));
    return { id, posts: options?.withPosts ? 3 : undefined };
  };
}

describe('cached(fn)', () => {
  test('concurrent calls share one run; later calls are served from the cache', async () => {
    const runs = new Runs();
    const loadUser = cached(users(runs), { cache: redis.cache() });
    const results = await Promise.all(Array.from({ length: 25 }, () => loadUser('42')));
    expect(results).toEqual(Array(25).fill({ id: '42', posts: undefined }));
    expect(await loadUser('42')).toEqual({ id: '42', posts: undefined });
    expect(runs.of('loadUser')).toBe(1);
    expect(await loadUser('42', { withPosts: true })).toEqual({ id: '42', posts: 3 });
    expect(await loadUser('7')).toEqual({ id: '7', posts: undefined });
    expect(runs.of('loadUser')).toBe(3);
  });

  test('keeps the name for keys and stack traces; key() is the Redis key holding the value', async () => {
    const cache = redis.cache();
    const loadUser = cached(users(new Runs()), { cache });
    expect(loadUser.name).toBe('loadUser');
    const key = loadUser.key('42', { withPosts: true });
    expect(key).toBe(`${cache.namespace}:{loadUser("42",<"withPosts":true>)}:v`);
    const client = await redis.client();
    expect(await client.exists(key)).toBe(0);
    await loadUser('42', { withPosts: true });
    expect(await client.exists(key)).toBe(1);
  });

  test('peek() reads without running, invalidate() makes the next call run again', async () => {
    const runs = new Runs();
    const loadUser = cached(users(runs), { cache: redis.cache() });
    expect(await loadUser.peek('42')).toBeUndefined();
    await loadUser('42');
    expect(await loadUser.peek('42')).toEqual({ id: '42', posts: undefined });
    expect(await loadUser.invalidate('42')).toBe(true);
    expect(await loadUser.invalidate('42')).toBe(false);
    expect(await loadUser.peek('42')).toBeUndefined();
    await loadUser('42');
    expect(runs.of('loadUser')).toBe(2);
  });

  test('a synchronous function becomes asynchronous, and this is passed through', async () => {
    const runs = new Runs();
    const pricing = {
      rate: 2,
      total: cached(
        function total(this: { rate: number }, amount: number) {
          runs.count('total');
          return amount * this.rate;
        },
        { cache: redis.cache() },
      ),
    };
    const pending = pricing.total(21);
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toBe(42);
    expect(await pricing.total(21)).toBe(42);
    expect(runs.of('total')).toBe(1);
  });

  test('an anonymous function needs a name; the name is its identity in the cache', async () => {
    const cache = redis.cache();
    expect(() => cached(async (n: number) => n, { cache })).toThrow(InvalidOptionError);
    expect(() => cached(async (n: number) => n, { cache })).toThrow(/needs a name for an anonymous function/);
    const runs = new Runs();
    const first = cached(async (n: number) => (runs.count('first'), n * 2), { cache, name: 'double' });
    const second = cached(async (n: number) => (runs.count('second'), n * 3), { cache, name: 'double' });
    expect(await first(5)).toBe(10);
    expect(await second(5)).toBe(10);
    expect([runs.of('first'), runs.of('second')]).toEqual([1, 0]);
    expect(first.key(5)).toBe(`${cache.namespace}:{double(5)}:v`);
  });

  test('version and namespace are part of the key: a new version never reads old entries', async () => {
    const cache = redis.cache();
    const runs = new Runs();
    const v1 = cached(users(runs), { cache, version: 1, namespace: 'accounts' });
    const v2 = cached(users(runs), { cache, version: 2, namespace: 'accounts' });
    expect(v1.key('42')).toBe(`${cache.namespace}:{accounts/loadUser@1("42")}:v`);
    await v1('42');
    await v1('42');
    await v2('42');
    expect(runs.of('loadUser')).toBe(2);
  });

  test('a custom key is namespaced and escaped, so input cannot reach another key', async () => {
    const cache = redis.cache();
    const runs = new Runs();
    const byEmail = cached(async (email: string) => (runs.count('byEmail'), email.length), { cache, name: 'byEmail', key: (email) => email.toLowerCase() });
    const other = cached(async function profile(_: string) {
      return 'profile';
    }, { cache });
    expect(await byEmail('Ada@Example.com')).toBe(15);
    expect(await byEmail('ada@example.com')).toBe(15);
    expect(runs.of('byEmail')).toBe(1);
    const hostile = 'x}:v';
    expect(byEmail.key(hostile)).toBe(`${cache.namespace}:{byEmail=x%7D:v}:v`);
    await byEmail(`}profile("a")`);
    expect(await other.peek('a')).toBeUndefined();
    const client = await redis.client();
    const keys = await client.keys(`${cache.namespace}:{*`);
    expect(keys.every((k) => k.startsWith(`${cache.namespace}:{byEmail=`))).toBe(true);
  });

  test('ttl goes to the core with each call', async () => {
    const cache = redis.cache({ ttl: '1h' });
    const short = cached(users(new Runs()), { cache, ttl: '30s', name: 'short' });
    const long = cached(users(new Runs()), { cache, name: 'long' });
    await Promise.all([short('1'), long('1')]);
    const client = await redis.client();
    const ttl = (key: string) => client.pTTL(key);
    expect(await ttl(short.key('1'))).toBeGreaterThan(10_000);
    expect(await ttl(short.key('1'))).toBeLessThanOrEqual(30_000);
    expect(await ttl(long.key('1'))).toBeGreaterThan(30 * 60_000);
  });

  test('the default cache is looked up at each call; without one the call fails naming the function', async () => {
    const runs = new Runs();
    const loadUser = cached(users(runs));
    await expect(loadUser('1')).rejects.toThrow(NoCacheError);
    await expect(loadUser('1')).rejects.toThrow(/loadUser has no cache.*setDefaultCache/);
    const cache = redis.cache();
    setDefaultCache(cache);
    expect(await loadUser('1')).toEqual({ id: '1', posts: undefined });
    expect(await cache.get('loadUser("1")')).toEqual({ id: '1', posts: undefined });
    expect(runs.of('loadUser')).toBe(1);
  });

  test('arguments that cannot be keyed reject with a typed error, and the function does not run', async () => {
    const runs = new Runs();
    const run = cached(async function run(task: unknown) {
      runs.count('run');
      return typeof task;
    }, { cache: redis.cache() });
    await expect(run({ onDone: () => undefined })).rejects.toThrow(UnkeyableArgumentError);
    await expect(run({ onDone: () => undefined })).rejects.toThrow(/run: argument 1 \(args\[0\]\.onDone\) is a function/);
    expect(() => run.key(Symbol('x'))).toThrow(UnkeyableArgumentError);
    expect(runs.of('run')).toBe(0);
  });

  test('bad options fail when the function is wrapped; a bad key result fails at the call', async () => {
    const cache = redis.cache();
    const fn = async function load(id: string) {
      return id;
    };
    // Each message names the wrapped function, so it is told apart from the same option given elsewhere.
    const bad: [object, RegExp][] = [
      [{ cache, ttl: 'soon' }, /^herdless: cached\(load\): option 'ttl' must be a duration/],
      [{ cache, ttl: 'soon', name: 'byId' }, /^herdless: cached\(byId\): option 'ttl' must be a duration/],
      [{ cache, ttlSeconds: 5 }, /^herdless: cached\(load\): unknown option 'ttlSeconds'/],
      [{ cache, key: 42 }, /^herdless: cached\(load\): option 'key' must be a string, or a function/],
      [{ cache, version: '' }, /^herdless: cached\(load\): option 'version' must be a non-empty string or a finite number/],
      [{ cache: {} }, /^herdless: cached\(load\): option 'cache' must be a cache from createCache\(\)/],
      [{ cache, instanceKey: () => 'x' }, /^herdless: cached\(load\): unknown option 'instanceKey'/],
      [{ cache, ttl: Number.MAX_VALUE }, /^herdless: cached\(load\): option 'ttl' must be a duration of at most/],
    ];
    for (const [options, message] of bad) {
      expect(() => cached(fn, options as never)).toThrow(InvalidOptionError);
      expect(() => cached(fn, options as never)).toThrow(message);
    }
    expect(() => createCache({ redis: { url: redis.url }, ttl: 'soon' as never })).toThrow(/^herdless: createCache: option 'ttl' must be a duration/);
    expect(() => setDefaultCache({} as never)).toThrow(/^herdless: setDefaultCache\(\): option 'cache' must be a cache from createCache\(\)/);
    // A ttl longer than any timer is still a valid expiry.
    expect(await cached(fn, { cache, ttl: '30d' })('long-lived')).toBe('long-lived');
    const numeric = cached(fn, { cache, key: ((id: string) => Number(id)) as never });
    await expect(numeric('1')).rejects.toThrow(/the key function of load returned 1; it must return a string/);
  });

  test('failures reach the caller and are not cached', async () => {
    const runs = new Runs();
    const flaky = cached(async function flaky(id: string) {
      runs.count('flaky');
      if (runs.of('flaky') === 1) throw new Error(`first try for ${id} failed`);
      return `ok ${id}`;
    }, { cache: redis.cache() });
    await expect(flaky('a')).rejects.toThrow('first try for a failed');
    expect(await flaky('a')).toBe('ok a');
    expect(await flaky('a')).toBe('ok a');
    expect(runs.of('flaky')).toBe(2);
  });

  test('a long argument list is hashed into a fixed-length key and still cached', async () => {
    const runs = new Runs();
    const search = cached(async function search(query: string) {
      runs.count('search');
      return query.length;
    }, { cache: redis.cache() });
    const query = 'herdless '.repeat(100);
    expect(await search(query)).toBe(900);
    expect(await search(query)).toBe(900);
    expect(runs.of('search')).toBe(1);
    expect(search.key(query)).toMatch(/:\{search\("herdless herdless .*~[A-Za-z0-9_-]{43}\}:v$/);
  });
});
