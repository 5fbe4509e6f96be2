import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import { createClient } from 'redis';
import { CHANNELS, createCache, TimeoutError, type Cache, type CacheOptions, type ErrorMessage, type GetOrSetContext, type OperationContext, type RefreshContext } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { settled } from './fixtures/settled';

// What herdless publishes on node:diagnostics_channel, and cache.stats(). Each cache here has its own
// connections, as another process would; subscribers are real diagnostics_channel subscribers, and each
// test's namespace keeps its records apart from the others'.

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
  recorder.stop();
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

function caches(n: number, options: CacheOptions = {}): Cache[] {
  const namespace = `tel-${++count}`;
  const made = Array.from({ length: n }, () => createCache({ redis: { url: redis.url }, namespace, ...options }));
  for (const cache of made) cache.on('error', () => undefined);
  open.push(...made);
  return made;
}

/** Everything published on herdless' channels while it runs, as the subscriber saw it when each call ended. */
class Recorder {
  calls: (GetOrSetContext & { started: boolean; ended: boolean })[] = [];
  refreshes: RefreshContext[] = [];
  operations: OperationContext[] = [];
  errors: ErrorMessage[] = [];
  misses: GetOrSetContext[] = [];
  private stops: (() => void)[] = [];

  start(): this {
    this.clear();
    const started = new WeakSet<object>();
    const tracing = <C extends object>(name: string, ended: (context: C, wasStarted: boolean) => void) => {
      const channel = diagnostics.tracingChannel<unknown, C>(name);
      const handlers = {
        start: (context: C) => void started.add(context),
        end: () => undefined,
        asyncStart: () => undefined,
        // A copy: the subscriber sees the context as it is when the call ends.
        asyncEnd: (context: C) => ended({ ...context }, started.has(context)),
        error: () => undefined,
      };
      channel.subscribe(handlers);
      this.stops.push(() => channel.unsubscribe(handlers));
    };
    tracing<GetOrSetContext>(CHANNELS.getOrSet, (context, wasStarted) => this.calls.push({ ...context, started: wasStarted, ended: true }));
    tracing<GetOrSetContext>(CHANNELS.miss, (context) => this.misses.push(context));
    tracing<RefreshContext>(CHANNELS.refresh, (context) => this.refreshes.push(context));
    for (const name of [CHANNELS.get, CHANNELS.set, CHANNELS.delete, CHANNELS.invalidateTags, CHANNELS.clear]) tracing<OperationContext>(name, (context) => this.operations.push(context));
    const plain = (name: string, listener: (message: unknown) => void) => {
      diagnostics.subscribe(name, listener);
      this.stops.push(() => diagnostics.unsubscribe(name, listener));
    };
    plain(CHANNELS.error, (message) => this.errors.push(message as ErrorMessage));
    return this;
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.clear();
  }

  outcomes(namespace: string): string[] {
    return this.calls.filter((call) => call.namespace === namespace).map((call) => (call.tier ? `${call.outcome}:${call.tier}` : String(call.outcome)));
  }

  clear(): void {
    this.calls = [];
    this.refreshes = [];
    this.operations = [];
    this.errors = [];
    this.misses = [];
  }
}
const recorder = new Recorder();

test('each getOrSet is traced with its outcome: lead with the function time, then hits by tier', async () => {
  recorder.start();
  const [cache] = caches(1, { l1: true });
  expect(await cache.getOrSet('k', async () => {
    await sleep(30);
    return 1;
  })).toBe(1);
  await settled(cache, 'k');
  // Until the tier's channel is proven live, hits come from Redis; then from memory.
  for (let i = 0; i < 50 && !recorder.outcomes(cache.namespace).includes('hit:memory'); i++) {
    await cache.getOrSet('k', () => 2);
    await sleep(10);
  }
  const [first, ...rest] = recorder.calls.filter((call) => call.namespace === cache.namespace);
  expect(first).toMatchObject({ key: 'k', outcome: 'lead', started: true, ended: true, result: 1 });
  expect(first.factoryMs).toBeGreaterThanOrEqual(25);
  expect(first.waitMs).toBeUndefined();
  expect(new Set(rest.map((call) => `${call.outcome}:${call.tier}`))).toEqual(new Set(['hit:redis', 'hit:memory']));
  expect(rest.every((call) => call.factoryMs === undefined && call.cache === cache)).toBe(true);
  // The one miss was traced on herdless:miss, with that same call's context.
  expect(recorder.misses.filter((miss) => miss.namespace === cache.namespace)).toMatchObject([{ key: 'k', outcome: 'lead' }]);
});

test('a herd: one lead in the fleet, the other cache waits (its wait timed), the same-process callers join', async () => {
  recorder.start();
  const [a, b] = caches(2);
  const fn = async () => {
    await sleep(200);
    return 'v';
  };
  const firstIn = a.getOrSet('h', fn);
  await sleep(50);
  const calls = [firstIn, a.getOrSet('h', fn), a.getOrSet('h', fn), b.getOrSet('h', fn), b.getOrSet('h', fn)];
  expect(await Promise.all(calls)).toEqual(['v', 'v', 'v', 'v', 'v']);
  expect(recorder.outcomes(a.namespace).sort()).toEqual(['joined', 'joined', 'joined', 'lead', 'wait']);
  const wait = recorder.calls.find((call) => call.namespace === a.namespace && call.outcome === 'wait')!;
  expect(wait.cache).toBe(b);
  expect(wait.waitMs).toBeGreaterThan(50);
  expect(wait.factoryMs).toBeUndefined();
  expect(a.stats()).toMatchObject({ misses: 1, calls: { lead: 1, wait: 0, joined: 2 } });
  expect(b.stats()).toMatchObject({ misses: 1, calls: { lead: 0, wait: 1, joined: 1 } });
});

test('a takeover, a fence, a thrown error, a refused call', async () => {
  recorder.start();
  const [cache] = caches(1);
  // A holder that died: its lease runs out with no wake-up, and the waiter takes over.
  await admin.set(`${cache.namespace}:{t}:lease`, 'dead-holder', { PX: 300 });
  expect(await cache.getOrSet('t', () => 'mine')).toBe('mine');
  // A delete() while the function runs voids its lease: the result is not stored.
  const fenced = cache.getOrSet('f', async () => {
    await sleep(150);
    return 'late';
  });
  await sleep(50);
  await cache.delete('f');
  expect(await fenced).toBe('late');
  const boom = new Error('boom');
  await expect(cache.getOrSet('e', () => Promise.reject(boom))).rejects.toBe(boom);
  await cache.close();
  await expect(cache.getOrSet('c', () => 1)).rejects.toThrow(/closed/);
  const byKey = Object.fromEntries(recorder.calls.filter((call) => call.namespace === cache.namespace).map((call) => [call.key, call]));
  expect(byKey.t).toMatchObject({ outcome: 'takeover' });
  expect(byKey.t.factoryMs).toBeGreaterThanOrEqual(0);
  expect(byKey.f).toMatchObject({ outcome: 'fence' });
  expect(byKey.e).toMatchObject({ outcome: 'lead', error: boom });
  // Refused before it started: no outcome, the error, and still an asyncEnd.
  expect(byKey.c).toMatchObject({ outcome: undefined, ended: true });
  expect(byKey.c.error).toBeInstanceOf(Error);
  expect(await admin.exists(`${cache.namespace}:{f}:v`)).toBe(0);
  expect(cache.stats().calls).toMatchObject({ lead: 1, takeover: 1, fence: 1, wait: 0 });
});

test('stale within grace, the refresh traced on herdless:refresh, and softTimeout answered by the refresh', async () => {
  recorder.start();
  const [cache] = caches(1, { ttl: '200ms', grace: '1m', earlyRefresh: false });
  let runs = 0;
  const fn = async () => {
    runs++;
    await sleep(20);
    return runs;
  };
  expect(await cache.getOrSet('s', fn)).toBe(1);
  await sleep(250);
  expect(await cache.getOrSet('s', fn)).toBe(1); // stale, refreshed in the background
  for (let i = 0; i < 100 && recorder.refreshes.length === 0; i++) await sleep(10);
  await sleep(250);
  expect(await cache.getOrSet('s', fn, { softTimeout: '5s' })).toBe(3); // stale again: waits for its refresh
  for (let i = 0; i < 100 && recorder.refreshes.length < 2; i++) await sleep(10);
  expect(recorder.outcomes(cache.namespace)).toEqual(['lead', 'stale:redis', 'refresh']);
  expect(recorder.refreshes.map((r) => r.outcome)).toEqual(['refreshed', 'refreshed']);
  expect(recorder.refreshes[0].factoryMs).toBeGreaterThanOrEqual(15);
  expect(cache.stats()).toMatchObject({ calls: { lead: 1, stale: 1, refresh: 1 }, refreshes: { refreshed: 2, failed: 0 } });
});

test('a failed refresh, and one that finds the refresh running elsewhere', async () => {
  recorder.start();
  const [a, b] = caches(2, { ttl: '100ms', grace: '1m', earlyRefresh: false, refreshBackoff: '1m' });
  expect(await a.getOrSet('r', () => 'v1')).toBe('v1');
  await sleep(150);
  expect(await a.getOrSet('r', () => Promise.reject(new Error('down')))).toBe('v1');
  for (let i = 0; i < 100 && recorder.refreshes.length === 0; i++) await sleep(10);
  expect(await b.getOrSet('r', () => 'v2')).toBe('v1'); // backed off fleet-wide
  for (let i = 0; i < 100 && recorder.refreshes.length < 2; i++) await sleep(10);
  expect(recorder.refreshes.map((r) => [r.cache === a ? 'a' : 'b', r.outcome])).toEqual([
    ['a', 'failed'],
    ['b', 'backoff'],
  ]);
  expect(a.stats()).toMatchObject({ calls: { lead: 1, stale: 1 }, refreshes: { failed: 1, refreshed: 0 } });
  expect(b.stats()).toMatchObject({ calls: { stale: 1 }, refreshes: { backoff: 1, failed: 0 } });
});

test('uncached when Redis cannot be reached, and timeout with hardTimeout', async () => {
  recorder.start();
  const [down] = caches(1, { redis: { url: 'redis://127.0.0.1:1' }, commandTimeout: '50ms' });
  expect(await down.getOrSet('u', () => 'computed')).toBe('computed');
  const [cache] = caches(1);
  await admin.set(`${cache.namespace}:{slow}:lease`, 'someone-else', { PX: 20_000 });
  await expect(cache.getOrSet('slow', () => 1, { hardTimeout: '100ms' })).rejects.toBeInstanceOf(TimeoutError);
  expect(recorder.outcomes(down.namespace)).toEqual(['uncached']);
  expect(recorder.calls.find((call) => call.namespace === down.namespace)!.factoryMs).toBeGreaterThanOrEqual(0);
  expect(recorder.outcomes(cache.namespace)).toEqual(['timeout']);
  expect(recorder.errors.filter((e) => e.namespace === down.namespace).length).toBeGreaterThan(0);
  expect(down.stats()).toMatchObject({ calls: { uncached: 1 } });
  expect(down.stats().errors).toBeGreaterThan(0);
  expect(cache.stats()).toMatchObject({ calls: { timeout: 1, wait: 0 } });
});

test('a subscriber of herdless:miss alone sees each miss with its outcome, and runs the function inside its own context (runFactory)', async () => {
  const [cache] = caches(1);
  const store = new AsyncLocalStorage<string>();
  const ended: GetOrSetContext[] = [];
  const handlers = {
    start: (context: GetOrSetContext) => {
      context.runFactory = (run) => store.run(`span-of-${context.key}`, run);
    },
    end: () => undefined,
    asyncStart: () => undefined,
    asyncEnd: (context: GetOrSetContext) => void ended.push({ ...context }),
    error: () => undefined,
  };
  const miss = diagnostics.tracingChannel<unknown, GetOrSetContext>(CHANNELS.miss);
  miss.subscribe(handlers);
  try {
    expect(await cache.getOrSet('ctx', () => store.getStore())).toBe('span-of-ctx');
    // A hit is no miss: nothing is traced, and the function does not run.
    expect(await cache.getOrSet('ctx', () => 'never')).toBe('span-of-ctx');
  } finally {
    miss.unsubscribe(handlers);
  }
  expect(ended).toMatchObject([{ key: 'ctx', outcome: 'lead', cache }]);
  expect(ended[0].factoryMs).toBeGreaterThanOrEqual(0);
});

test('set, get, delete, invalidateTags and clear are traced on their own channels', async () => {
  recorder.start();
  const [cache] = caches(1);
  await cache.set('a', 1, { tags: ['t'] });
  expect(await cache.get('a')).toBe(1);
  await cache.invalidateTags(['t']);
  expect(await cache.delete('a')).toBe(true); // invalidated by its tag, still stored until deleted
  await cache.clear();
  await expect(cache.set('', 1)).rejects.toThrow();
  const ops = recorder.operations.filter((op) => op.namespace === cache.namespace);
  expect(ops.map((op) => [op.operation, op.key, op.tags, op.error === undefined])).toEqual([
    ['set', 'a', undefined, true],
    ['get', 'a', undefined, true],
    ['invalidateTags', undefined, ['t'], true],
    ['delete', 'a', undefined, true],
    ['clear', undefined, undefined, true],
    ['set', '', undefined, false],
  ]);
  expect(ops.find((op) => op.operation === 'get')!.result).toBe(1);
});

test('an unreadable stored value is published on herdless:error and counted', async () => {
  recorder.start();
  const [cache] = caches(1);
  await admin.set(`${cache.namespace}:{bad}:v`, 'not an envelope');
  expect(await cache.getOrSet('bad', () => 'fresh')).toBe('fresh');
  const errors = recorder.errors.filter((e) => e.namespace === cache.namespace);
  expect(errors.length).toBeGreaterThan(0);
  expect(errors[0]).toMatchObject({ cache, key: 'bad' });
  expect(cache.stats().errors).toBe(errors.length);
});

test('without a subscriber nothing is traced, and stats() still counts', async () => {
  const [cache] = caches(1, { l1: { maxEntries: 2 } });
  let calls = 0;
  const get = (key: string, fn: () => unknown) => {
    calls++;
    return cache.getOrSet(key, fn);
  };
  for (const key of ['a', 'b', 'c', 'd', 'e']) await get(key, () => key);
  await settled(cache, 'e');
  calls += 2; // settled() reads 'e' twice
  // Trusted now: hits from Redis fill the tier, which keeps 2 entries.
  for (const key of ['a', 'b', 'c', 'd', 'e']) await get(key, () => 'x');
  for (let i = 0; i < 50 && cache.stats().hits.memory === 0; i++) {
    await get('e', () => 'x');
    await sleep(10);
  }
  expect(recorder.calls).toHaveLength(0);
  const stats = cache.stats();
  expect(stats).toMatchObject({ namespace: cache.namespace, misses: 5, calls: { lead: 5, wait: 0, stale: 0, uncached: 0, joined: 0 } });
  // Every call is counted once, by its outcome.
  expect(Object.values(stats.calls).reduce((a, b) => a + b, 0)).toBe(calls);
  expect(stats.calls.hit).toBe(stats.hits.memory + stats.hits.redis);
  expect(stats.hits.memory).toBeGreaterThan(0);
  expect(stats.hits.redis).toBeGreaterThan(0);
  expect(stats.memory!.entries).toBeLessThanOrEqual(2);
  expect(stats.memory!.bytes).toBeGreaterThan(0);
  // The tier held 2 of the 5 keys read at most: the rest were evicted by its bound, and counted.
  expect(stats.memory!.evictions).toBeGreaterThanOrEqual(1);
  // A snapshot: later calls do not change it.
  await cache.getOrSet('zz', () => 1);
  expect(stats.misses).toBe(5);
  expect(caches(1)[0].stats().memory).toBeUndefined();
});
