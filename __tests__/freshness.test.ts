import { commandOptions, createClient } from 'redis';
import { createCache, InvalidOptionError, TimeoutError, v8Codec, type Cache, type CacheOptions } from '../src';
import { EnvelopeFormat } from '../src/envelope';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFreshFleet, type FleetEvent, type FreshFleet } from './fixtures/freshness-fleet';
import type { CacheSpec, CallResult, Computed, FactorySpec } from './fixtures/freshness-worker';

// Freshness (grace, early refresh, soft and hard timeouts, forceFresh, the refresh backoff) across real
// processes: one Redis for the file, a pool of 4 long-lived worker processes (fixtures/freshness-worker.ts)
// that every test drives with its own namespace. Runs are counted fleet-wide with an INCR in Redis; what
// Redis holds is read directly. Time bounds are generous: they tell "served at once" from "waited for a
// function of 1 s", never how fast anything is.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let fleet: FreshFleet;
const caches: Cache[] = [];
let count = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  fleet = await startFreshFleet(4, redis.url);
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await fleet?.stop();
  await admin?.quit();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A cache configuration of its own for one test: a fresh namespace, these options. */
function spec(options: CacheSpec['options'] = {}): CacheSpec {
  return { namespace: `fresh${++count}`, options };
}

/** A cache in this (the jest) process on the spec's namespace, as one more member of the fleet. */
function local(of: CacheSpec, options: Partial<CacheOptions> = {}): Cache {
  const cache = createCache({ redis: { url: redis.url }, namespace: of.namespace, ...of.options, ...options } as CacheOptions);
  cache.on('error', () => undefined);
  caches.push(cache);
  return cache;
}

/** The workers' factory, in this process: counts its run in the same Redis counter. */
function localFactory(of: CacheSpec, key: string, factory: FactorySpec): () => Promise<Computed> {
  return async () => {
    const run = await admin.incr(`runs:${of.namespace}:${key}`);
    await sleep(factory.delayMs);
    if (factory.failWith !== undefined) throw Object.assign(new Error(factory.failWith), { code: 'E_FACTORY' });
    return { value: factory.value, computedAt: Date.now(), pid: process.pid, run };
  };
}

const runs = async (of: CacheSpec, key: string) => Number(await admin.get(`runs:${of.namespace}:${key}`));
const valueKey = (of: CacheSpec, key: string) => `${of.namespace}:{${key}}:v`;
const backoffKey = (of: CacheSpec, key: string) => `${of.namespace}:{${key}}:backoff`;
const format = new EnvelopeFormat(v8Codec);

/** What Redis holds at the key's value, fresh or stale, or undefined. */
async function stored(of: CacheSpec, key: string): Promise<Computed | undefined> {
  const bytes = await admin.get(commandOptions({ returnBuffers: true }), valueKey(of, key));
  return bytes === null ? undefined : (format.decode(bytes)?.value as Computed | undefined);
}

const eventsOf = (of: CacheSpec, event: string, key?: string): FleetEvent[] =>
  fleet.events.filter((e) => e.namespace === of.namespace && e.event === event && (key === undefined || e.key === key));

const waitForEvent = (of: CacheSpec, event: string, key: string, test: (e: FleetEvent) => boolean = () => true, ms?: number) =>
  fleet.waitFor((e) => e.namespace === of.namespace && e.event === event && e.key === key && test(e), `'${event}' on ${key}`, ms);

/** Every caller succeeded with the value `expected` (the factory's `value` field). */
function expectValues(results: CallResult[], expected: string) {
  for (const result of results) {
    expect(result.error).toBeUndefined();
    expect(result.value?.value).toBe(expected);
  }
}

describe('grace: a stale value is served fleet-wide while one caller refreshes it', () => {
  test('4 processes x 10 callers on a stale key all get the old value at once; the function runs once fleet-wide; then the new value is served', async () => {
    const c = spec({ ttl: 1_000, grace: '10s' });
    const [w0] = fleet.workers;
    const [fill] = await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    expect(fill.value?.value).toBe('old');
    // Redis keeps the entry ttl + grace, not just ttl.
    const kept = await admin.pTTL(valueKey(c, 'k'));
    expect(kept).toBeGreaterThan(11_000 - 3_000);
    expect(kept).toBeLessThanOrEqual(11_000);

    await sleep(1_300); // past the ttl, well within grace
    const at = Date.now() + 100;
    const results = (await Promise.all(fleet.workers.map((w) => w.call(c, 'k', { value: 'new', delayMs: 1_000 }, undefined, { callers: 10, at })))).flat();
    expect(results).toHaveLength(40);
    expectValues(results, 'old');
    // Served at once: nobody waited for the 1 s refresh (a generous bound: half of it).
    expect(results.filter((r) => r.ms >= 500)).toEqual([]);
    // Every process served the stale value; exactly one started the refresh.
    for (const w of fleet.workers) expect(eventsOf(c, 'stale', 'k').some((e) => e.worker === w.index)).toBe(true);

    await until(async () => (await stored(c, 'k'))?.value === 'new', 'the refresh to be stored');
    expect(await runs(c, 'k')).toBe(2);
    expect(eventsOf(c, 'refresh', 'k')).toHaveLength(1);
    const refreshed = await admin.pTTL(valueKey(c, 'k'));
    expect(refreshed).toBeGreaterThan(11_000 - 3_000);
    expect(refreshed).toBeLessThanOrEqual(11_000);

    // After the refresh, every process gets the new value without running the function.
    const after = (await Promise.all(fleet.workers.map((w) => w.call(c, 'k', { value: 'newer', delayMs: 1_000 })))).flat();
    expectValues(after, 'new');
    expect(await runs(c, 'k')).toBe(2);
  });

  test('past ttl + grace the entry is gone: the next call is a miss that runs the function and waits for it', async () => {
    const c = spec({ ttl: 300, grace: 500 });
    const [w0, w1] = fleet.workers;
    await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    const kept = await admin.pTTL(valueKey(c, 'k'));
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(800);
    await sleep(1_100);
    expect(await admin.exists(valueKey(c, 'k'))).toBe(0);
    const [next] = await w1.call(c, 'k', { value: 'new', delayMs: 400 });
    expect(next.value?.value).toBe('new');
    expect(next.ms).toBeGreaterThanOrEqual(350); // it waited for the function: a miss, not a stale serve
    expect(await runs(c, 'k')).toBe(2);
    expect(eventsOf(c, 'stale')).toEqual([]);
  });

  test("a reader with a shorter grace than the writer's treats a value past its own grace as a miss", async () => {
    const writer = spec({ ttl: 300, grace: '20s' });
    const shortReader: CacheSpec = { namespace: writer.namespace, options: { ttl: 300, grace: 200 } };
    const [w0, w1, w2] = fleet.workers;
    await Promise.all([w0.call(writer, 'short', { value: 'old', delayMs: 50 }), w0.call(writer, 'long', { value: 'old', delayMs: 50 })]);
    await sleep(800); // past the ttl by ~500 ms: past the short grace, within the writer's
    const [short, long] = await Promise.all([
      w1.call(shortReader, 'short', { value: 'new', delayMs: 400 }).then(([r]) => r),
      w2.call(writer, 'long', { value: 'new', delayMs: 400 }).then(([r]) => r),
    ]);
    // The short-grace reader ran the function and waited for it.
    expect(short.value?.value).toBe('new');
    expect(short.ms).toBeGreaterThanOrEqual(350);
    expect(await runs(writer, 'short')).toBe(2);
    // The same age within the reader's grace is a stale serve (the control).
    expect(long.value?.value).toBe('old');
    expect(long.ms).toBeLessThan(350);
  });
});

describe('early refresh (XFetch)', () => {
  test('a hot key read back to back by 3 processes for 5 ttl windows never makes a caller wait, costs about one run per window, and never serves a value older than ttl', async () => {
    const ttl = 1_000;
    const fn = 200;
    const c = spec({ ttl }); // no grace; earlyRefresh is on by default
    const factory = { value: 'v', delayMs: fn };
    const [w0] = fleet.workers;
    await w0.call(c, 'k', factory); // the first fill waits, as a miss must
    const windows = 5;
    const at = Date.now() + 50;
    const results = (await Promise.all(fleet.workers.slice(0, 3).map((w) => w.loop(c, 'k', factory, { forMs: windows * ttl, gapMs: 10, at })))).flat();
    expect(results.length).toBeGreaterThan(100);
    for (const result of results) expect(result.error).toBeUndefined();
    // Nobody waited for the function (a call that waits takes the function's ~200 ms; a hit takes a GET).
    const waited = results.filter((r) => r.ms > fn / 2);
    expect(waited).toEqual([]);
    // Never older than ttl when served (plus a margin for the delivery inside the process).
    const ages = results.map((r) => r.endedAt - r.value!.computedAt);
    expect(Math.max(...ages)).toBeLessThan(ttl + 100);
    // About one refresh per window: every expiry was refreshed ahead, none twice over. (A refresh that the
    // last calls started may still be under way: let it finish before counting.)
    await sleep(fn + 200);
    const refreshRuns = (await runs(c, 'k')) - 1;
    expect(refreshRuns).toBeGreaterThanOrEqual(windows - 1);
    expect(refreshRuns).toBeLessThanOrEqual(2 * windows);
    // Each of those runs was a background refresh, not a miss.
    const refreshes = eventsOf(c, 'refresh', 'k');
    expect(refreshes).toHaveLength(refreshRuns);
    // The bound: no refresh starts in the first half of a value's life, however many reads there are. A
    // refresh that leads replaces the value committed last, computed at the latest computedAt before it.
    const computed = [...new Set(results.map((r) => r.value!.computedAt))].sort((a, b) => a - b);
    const earlyBy = refreshes.map((e) => e.at - Math.max(...computed.filter((at) => at < e.at)));
    expect(Math.min(...earlyBy)).toBeGreaterThanOrEqual(ttl / 2);
  });
});

describe('stale-if-error and the fleet-wide refresh backoff', () => {
  test('a failing refresh: callers everywhere keep the stale value, no process retries during the backoff kept in Redis, one retries after it', async () => {
    const backoff = 2_000;
    const c = spec({ ttl: 300, grace: '20s', refreshBackoff: backoff });
    const failing = { value: 'never', delayMs: 200, failWith: 'database down' };
    const [w0] = fleet.workers;
    await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    await sleep(500);

    // One process serves the stale value and its refresh fails.
    const [first] = await w0.call(c, 'k', failing);
    expect(first.value?.value).toBe('old');
    const failed = await waitForEvent(c, 'refresh-failed', 'k');
    expect(failed).toMatchObject({ worker: 0, key: 'k', error: { message: 'database down', code: 'E_FACTORY' } });
    const left = await admin.pTTL(backoffKey(c, 'k'));
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(backoff);

    // During the backoff every process, the three that never saw the failure included, gets the stale
    // value (no error) and none runs the function.
    const during = (await Promise.all(fleet.workers.map((w) => w.loop(c, 'k', failing, { forMs: 600, gapMs: 20 })))).flat();
    expect(during.length).toBeGreaterThan(20);
    expectValues(during, 'old');
    expect(await runs(c, 'k')).toBe(2);
    expect(await admin.pTTL(backoffKey(c, 'k'))).toBeGreaterThan(0); // the loop ended inside the backoff
    expect(eventsOf(c, 'refresh-failed')).toHaveLength(1);

    // After the backoff, exactly one retry fleet-wide; it fails again and starts a new backoff.
    await until(async () => (await admin.exists(backoffKey(c, 'k'))) === 0, 'the backoff to end');
    const at = Date.now() + 50;
    const after = (await Promise.all(fleet.workers.map((w) => w.loop(c, 'k', failing, { forMs: 400, gapMs: 20, at })))).flat();
    expectValues(after, 'old');
    await waitForEvent(c, 'refresh-failed', 'k', (e) => e !== failed);
    expect(await runs(c, 'k')).toBe(3);
    expect(eventsOf(c, 'refresh-failed')).toHaveLength(2);
    const again = await admin.pTTL(backoffKey(c, 'k'));
    expect(again).toBeGreaterThan(0);
    expect(again).toBeLessThanOrEqual(backoff);
  });
});

describe('softTimeout and hardTimeout', () => {
  test('softTimeout: a caller with a stale value waits that long for the refresh, then gets the stale value; the refresh is stored later', async () => {
    const c = spec({ ttl: 300, grace: '20s' });
    const [w0] = fleet.workers;
    await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    await sleep(500);
    const [slow] = await w0.call(c, 'k', { value: 'new', delayMs: 1_000 }, { softTimeout: 300 });
    expect(slow.value?.value).toBe('old');
    expect(slow.ms).toBeGreaterThanOrEqual(290); // it gave the refresh its softTimeout
    expect(slow.ms).toBeLessThan(900); // and did not wait for the whole function
    await until(async () => (await stored(c, 'k'))?.value === 'new', 'the refresh to be stored');
    expect(await runs(c, 'k')).toBe(2);
  });

  test('softTimeout: a refresh faster than softTimeout hands the caller the new value; so does a refresh already running in another process', async () => {
    const c = spec({ ttl: 300, grace: '20s' });
    const [w0, w1, w2] = fleet.workers;
    await w0.call(c, 'k', { value: 'v1', delayMs: 50 });
    await sleep(500);
    const [fast] = await w1.call(c, 'k', { value: 'v2', delayMs: 200 }, { softTimeout: 2_000 });
    expect(fast.value?.value).toBe('v2');
    expect(eventsOf(c, 'stale')).toEqual([]);

    await sleep(500); // v2 is stale now
    const [background] = await w0.call(c, 'k', { value: 'v3', delayMs: 800 }); // softTimeout 0: the stale value at once
    expect(background.value?.value).toBe('v2');
    await waitForEvent(c, 'refresh', 'k', (e) => e.worker === 0);
    const [patient] = await w2.call(c, 'k', { value: 'v4', delayMs: 100 }, { softTimeout: 3_000 });
    expect(patient.value?.value).toBe('v3');
    expect(await runs(c, 'k')).toBe(3); // v1, v2, v3: the patient caller ran nothing
  });

  test('hardTimeout: with no stale value, the leader and a waiter in another process reject with TimeoutError; the computation goes on and is stored', async () => {
    const c = spec({ ttl: '1m' });
    const mine = local(c);
    const [w0, w1, w2] = fleet.workers;

    // Key a: the leader is this process, the waiter another one.
    const leadingA = new Promise((resolve) => mine.once('lead', resolve));
    const startedA = Date.now();
    const leaderA = mine.getOrSet('a', localFactory(c, 'a', { value: 'late a', delayMs: 1_500 }), { hardTimeout: 300 }).then(
      () => undefined,
      (error: unknown) => ({ error, ms: Date.now() - startedA }),
    );
    // Key b: the leader is another process, the waiter this one.
    const leaderB = w0.call(c, 'b', { value: 'late b', delayMs: 1_500 }, { hardTimeout: 300 });
    await leadingA;
    const waiterA = w1.call(c, 'a', { value: 'never', delayMs: 100 }, { hardTimeout: 300 });
    await waitForEvent(c, 'lead', 'b');
    const startedB = Date.now();
    const waiterB = await mine.getOrSet('b', localFactory(c, 'b', { value: 'never', delayMs: 100 }), { hardTimeout: 300 }).then(
      () => undefined,
      (error: unknown) => ({ error, ms: Date.now() - startedB }),
    );

    for (const outcome of [await leaderA, waiterB]) {
      expect(outcome?.error).toBeInstanceOf(TimeoutError);
      expect((outcome?.error as TimeoutError).code).toBe('ERR_HERDLESS_TIMEOUT');
      expect(outcome!.ms).toBeLessThan(1_200); // it did not wait for the 1.5 s function
    }
    expect(((await leaderA)?.error as TimeoutError).key).toBe('a');
    for (const [remote] of [await waiterA, await leaderB]) {
      expect(remote).toMatchObject({ ok: false, error: { name: 'TimeoutError', code: 'ERR_HERDLESS_TIMEOUT' } });
      expect(remote.ms).toBeLessThan(1_200);
    }

    // The computations went on and were stored: later calls get them without running anything.
    await until(async () => (await stored(c, 'a'))?.value === 'late a' && (await stored(c, 'b'))?.value === 'late b', 'the late results to be stored');
    const [laterA] = await w2.call(c, 'a', { value: 'never', delayMs: 100 });
    const [laterB] = await w2.call(c, 'b', { value: 'never', delayMs: 100 });
    expect(laterA.value?.value).toBe('late a');
    expect(laterB.value?.value).toBe('late b');
    expect(await runs(c, 'a')).toBe(1);
    expect(await runs(c, 'b')).toBe(1);
  });
});

describe('forceFresh', () => {
  test('4 processes x 5 callers forcing a fresh value of a stored key: the function runs once fleet-wide and all get the new value', async () => {
    const c = spec({ ttl: '1m' });
    const [w0] = fleet.workers;
    await w0.call(c, 'k', { value: 'stored', delayMs: 50 });
    const at = Date.now() + 100;
    const results = (await Promise.all(fleet.workers.map((w) => w.call(c, 'k', { value: 'forced', delayMs: 500 }, { forceFresh: true }, { callers: 5, at })))).flat();
    expect(results).toHaveLength(20);
    expectValues(results, 'forced');
    expect(new Set(results.map((r) => r.value?.run))).toEqual(new Set([2]));
    expect(await runs(c, 'k')).toBe(2);
    expect((await stored(c, 'k'))?.value).toBe('forced');
  });

  test('forceFresh while a background refresh runs in another process waits for that refresh instead of starting another', async () => {
    const c = spec({ ttl: 300, grace: '20s' });
    const [w0, w1, w2] = fleet.workers;
    await w0.call(c, 'k', { value: 'stale', delayMs: 50 });
    await sleep(500);
    const [served] = await w0.call(c, 'k', { value: 'refreshed', delayMs: 1_000 });
    expect(served.value?.value).toBe('stale');
    await waitForEvent(c, 'refresh', 'k', (e) => e.worker === 0);
    const forced = (await Promise.all([w1, w2].map((w) => w.call(c, 'k', { value: 'forced', delayMs: 100 }, { forceFresh: true }, { callers: 3 })))).flat();
    expectValues(forced, 'refreshed');
    expect(await runs(c, 'k')).toBe(2);
  });
});

describe('delete() during a refresh', () => {
  test("fences the refresh: its result is not stored, and the next call runs the function", async () => {
    const c = spec({ ttl: 300, grace: '20s' });
    const [w0, w1] = fleet.workers;
    await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    await sleep(500);
    await w0.call(c, 'k', { value: 'refreshed', delayMs: 1_000 });
    await waitForEvent(c, 'refresh', 'k', (e) => e.worker === 0);
    expect(await local(c).delete('k')).toBe(true);
    await waitForEvent(c, 'fence', 'k', (e) => e.worker === 0);
    expect(await admin.exists(valueKey(c, 'k'))).toBe(0);
    expect(await runs(c, 'k')).toBe(2);
    const [next] = await w1.call(c, 'k', { value: 'next', delayMs: 100 });
    expect(next.value?.value).toBe('next');
    expect(await runs(c, 'k')).toBe(3);
  });

  test('no call that starts after delete() resolved is handed the stale value, in any process, the refreshing one included', async () => {
    const c = spec({ ttl: 300, grace: '20s' });
    const [w0, w1, w2] = fleet.workers;
    const mine = local(c);
    await w0.call(c, 'k', { value: 'old', delayMs: 50 });
    await sleep(500);
    await w0.call(c, 'k', { value: 'refreshed', delayMs: 1_000 });
    await waitForEvent(c, 'refresh', 'k', (e) => e.worker === 0);
    expect(await mine.delete('k')).toBe(true);
    const after = { value: 'after the delete', delayMs: 300 };
    const results = (await Promise.all([
      ...[w0, w1, w2].map((w) => w.call(c, 'k', after, undefined, { callers: 3 })),
      mine.getOrSet('k', localFactory(c, 'k', after)).then((value): CallResult[] => [{ ok: true, value, startedAt: 0, endedAt: 0, ms: 0 }]),
    ])).flat();
    expectValues(results, 'after the delete');
    await waitForEvent(c, 'fence', 'k', (e) => e.worker === 0);
    expect((await stored(c, 'k'))?.value).toBe('after the delete');
    expect(await runs(c, 'k')).toBe(3);
  });
});

describe('options', () => {
  const bad: [option: string, value: unknown][] = [
    ['grace', -1],
    ['grace', 'soon'],
    ['grace', NaN],
    ['earlyRefresh', -1],
    ['earlyRefresh', 'yes'],
    ['earlyRefresh', Infinity],
    ['softTimeout', -5],
    ['softTimeout', '1 minute'],
    ['hardTimeout', 0],
    ['hardTimeout', -1],
    ['hardTimeout', true],
    ['refreshBackoff', -1],
  ];

  function expectNamed(error: unknown, option: string) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe('ERR_HERDLESS_INVALID_OPTION');
    expect((error as InvalidOptionError).option).toBe(option);
    expect((error as Error).message).toContain(`'${option}'`);
  }

  test.each(bad)('createCache throws InvalidOptionError synchronously for %s: %p', (option, value) => {
    let thrown: unknown;
    try {
      createCache({ redis: { url: redis.url }, [option]: value } as CacheOptions);
    } catch (error) {
      thrown = error;
    }
    expectNamed(thrown, option);
  });

  test.each([...bad, ['forceFresh', 'yes'], ['forceFresh', 1]] as [string, unknown][])('getOrSet rejects with InvalidOptionError for %s: %p, and runs nothing', async (option, value) => {
    const cache = local(spec());
    let ran = false;
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = cache.getOrSet('k', () => (ran = true), { [option]: value } as never);
    }).not.toThrow();
    const error = await pending!.then(
      () => undefined,
      (e: unknown) => e,
    );
    expectNamed(error, option);
    expect(ran).toBe(false);
  });

  test('forceFresh is per call only, and set() takes ttl and grace only', async () => {
    let thrown: unknown;
    try {
      createCache({ redis: { url: redis.url }, forceFresh: true } as CacheOptions);
    } catch (error) {
      thrown = error;
    }
    expectNamed(thrown, 'forceFresh');
    const c = spec();
    const cache = local(c);
    for (const [option, value] of [['earlyRefresh', 1], ['softTimeout', 10], ['hardTimeout', 10], ['refreshBackoff', 10], ['forceFresh', true], ['grace', -1], ['ttl', 'soon']] as const) {
      const error = await cache.set('k', 'v', { [option]: value } as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expectNamed(error, option);
    }
    expect(await admin.exists(valueKey(c, 'k'))).toBe(0);
    // Values at the edge of each range are accepted.
    await cache.set('k', 'v', { ttl: 1_000, grace: 0 });
    await cache.set('k', 'v', { grace: false });
    expect(() => createCache({ redis: { url: redis.url }, grace: 0, earlyRefresh: 0, softTimeout: 0, hardTimeout: false, refreshBackoff: 0 }).close()).not.toThrow();
    expect(() => createCache({ redis: { url: redis.url }, grace: false, earlyRefresh: true }).close()).not.toThrow();
    expect(await cache.getOrSet('k2', () => 'ok', { earlyRefresh: false, softTimeout: 0, forceFresh: false, hardTimeout: 1_000 })).toBe('ok');
  });
});

describe('events', () => {
  test("'stale' and 'refresh' carry the key, 'refresh-failed' the very error and the key; only the process that refreshes emits 'refresh'", async () => {
    const c = spec({ ttl: 300, grace: '20s', refreshBackoff: '10s', earlyRefresh: false });
    const a = local(c);
    const b = local(c);
    const heard = (cache: Cache) => {
      const events: [string, ...unknown[]][] = [];
      for (const name of ['stale', 'refresh', 'refresh-failed'] as const) cache.on(name, (...args: unknown[]) => events.push([name, ...args]));
      return events;
    };
    const ofA = heard(a);
    const ofB = heard(b);
    await a.getOrSet('k', () => 'v1');
    await sleep(500);
    expect(await b.getOrSet('k', () => sleep(200).then(() => 'v2'))).toBe('v1');
    // 'refresh' comes once the refresh holds the lease, which may be just after the stale value was served.
    await until(() => ofB.length === 2, "'refresh'");
    expect(ofB).toEqual([['stale', 'k'], ['refresh', 'k']]);
    await until(async () => (await a.get('k')) === 'v2', 'the refresh to be stored');
    expect(ofA).toEqual([]);

    await sleep(500); // v2 is stale
    const boom = Object.assign(new Error('refresh failed'), { code: 'E_BOOM' });
    expect(await a.getOrSet('k', () => sleep(100).then(() => Promise.reject(boom)))).toBe('v2');
    await until(() => ofA.some(([name]) => name === 'refresh-failed'), "'refresh-failed'");
    expect(ofA).toEqual([['stale', 'k'], ['refresh', 'k'], ['refresh-failed', boom, 'k']]);
    expect(ofA[2][1]).toBe(boom);
    // During the backoff, b serves the stale value without starting a refresh.
    ofB.length = 0;
    expect(await b.getOrSet('k', () => 'never')).toBe('v2');
    await sleep(200); // a 'refresh' would follow the stale serve by a round trip
    expect(ofB).toEqual([['stale', 'k']]);
  });

  test("an early refresh of a fresh value emits 'refresh', not 'stale'", async () => {
    const c = spec({ ttl: 1_000 });
    const cache = local(c);
    const events: [string, ...unknown[]][] = [];
    for (const name of ['stale', 'refresh', 'miss'] as const) cache.on(name, (...args: unknown[]) => events.push([name, ...args]));
    let computed = 0;
    const factory = () => sleep(200).then(() => ++computed);
    expect(await cache.getOrSet('k', factory)).toBe(1);
    const served: unknown[] = [];
    await until(async () => {
      served.push(await cache.getOrSet('k', factory));
      return events.some(([name]) => name === 'refresh');
    }, "'refresh'", 3_000);
    expect(served.every((value) => value === 1)).toBe(true);
    expect(events).toEqual([['miss', 'k'], ['refresh', 'k']]);
    await until(async () => (await cache.get('k')) === 2, 'the early refresh to be stored');
  });
});

describe('what a process learnt about a refresh elsewhere', () => {
  // Fails at the time of writing: a refresh attempt that finds the lease held elsewhere keeps this process
  // quiet for the holder's lease PTTL (freshness/refresher.ts, KIND_WAIT -> quietUntil), about lease.ttl
  // (10 s by default) since the holder renews it, even though that lease ends when its refresh commits.
  test('a process that found the refresh running in another process refreshes the key itself once that refresh is over and the value is stale again', async () => {
    const c = spec({ ttl: 300, grace: '20s', earlyRefresh: false });
    const [w0, w1] = fleet.workers;
    await w0.call(c, 'k', { value: 'v1', delayMs: 50 });
    await sleep(500);
    // Both processes see the stale value at once: one refreshes, the other finds its lease held.
    const at = Date.now() + 50;
    await Promise.all([w0, w1].map((w) => w.call(c, 'k', { value: 'v2', delayMs: 300 }, undefined, { at })));
    const refresher = (await waitForEvent(c, 'refresh', 'k')).worker;
    const other = refresher === 0 ? w1 : w0;
    await until(async () => (await stored(c, 'k'))?.value === 'v2', 'the refresh to be stored');
    await sleep(500); // v2 is stale; no refresh runs anywhere
    // Only the other process reads the key now: it serves v2 and must refresh it (no lease is held).
    // (Its lease-holder reply said the lease had ~lease.ttl (10 s) left, but that lease ended with the commit.)
    const served = await other.loop(c, 'k', { value: 'v3', delayMs: 100 }, { forMs: 1_000, gapMs: 50 });
    expect(served[0].value?.value).toBe('v2');
    expect(eventsOf(c, 'refresh', 'k').filter((e) => e.worker === other.index).length).toBeGreaterThanOrEqual(1);
    await until(async () => (await stored(c, 'k'))?.value === 'v3', 'the other process to refresh the key', 3_000);
    expect(await runs(c, 'k')).toBeGreaterThanOrEqual(3);
  });
});
