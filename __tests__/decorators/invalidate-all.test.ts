import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cached, Cached, CacheConfig, invalidateAll } from '../../decorators';
import { InvalidOptionError, type Cache } from '../../src';
import { TAGGED } from '../../src/cache';
import { Runs, useRedis } from './helpers';
import type { Call, Reply } from './invalidate-all-worker';

/*
 * Tags in cached() and invalidateAll(): what a call hands the core, and invalidation seen from another
 * process. The decorator forms, in both TypeScript modes, are in contract.ts.
 */
const redis = useRedis();
const ROOT = join(__dirname, '..', '..');

function users(runs: Runs) {
  return async function loadUser(id: string) {
    runs.count('loadUser');
    return { id };
  };
}

describe('tags in cached(fn)', () => {
  test('a fixed list and a tags function tag the entries; invalidating a tag recomputes those only', async () => {
    const cache = redis.cache();
    const runs = new Runs();
    const byId = cached(users(runs), { cache, tags: (id) => [`user:${id}`] });
    const all = cached(async function countUsers() {
      runs.count('countUsers');
      return 2;
    }, { cache, tags: ['users'] });
    await Promise.all([byId('1'), byId('2'), all()]);
    await cache.invalidateTags(['user:1']);
    await Promise.all([byId('1'), byId('2'), all()]);
    expect([runs.of('loadUser'), runs.of('countUsers')]).toEqual([3, 1]);
    await cache.invalidateTags(['users']);
    await Promise.all([byId('1'), byId('2'), all()]);
    expect([runs.of('loadUser'), runs.of('countUsers')]).toEqual([3, 2]);
  });

  test('a bad fixed tag fails where it is written, naming the function', () => {
    const cache = redis.cache();
    const runs = new Runs();
    expect(() => cached(users(runs), { cache, tags: [''] })).toThrow(InvalidOptionError);
    expect(() => cached(users(runs), { cache, tags: [''] })).toThrow(/^herdless: cached\(loadUser\): option 'tags\[0\]' must be a non-empty string/);
    expect(() => cached(users(runs), { cache, tags: Array.from({ length: 65 }, (_, i) => `t${i}`) })).toThrow(/^herdless: cached\(loadUser\): option 'tags' must be at most 64 tags/);
    // @ts-expect-error a tag is a string
    expect(() => cached(users(runs), { cache, tags: [7] })).toThrow(/^herdless: cached\(loadUser\): option 'tags\[0\]' must be a non-empty string.*; got 7/);
    expect(() => cached(users(runs), { cache, tags: ['\0loadUser'] })).toThrow(/option 'tags\[0\]' must be a tag that does not start with NUL/);
  });

  test('a tags function returning a bad list rejects the call, naming the function, and the function does not run', async () => {
    const runs = new Runs();
    const byId = cached(users(runs), { cache: redis.cache(), tags: (id) => (id === 'reserved' ? ['\0loadUser'] : id === 'none' ? (undefined as unknown as string[]) : [id]) });
    await expect(byId('')).rejects.toThrow(InvalidOptionError);
    await expect(byId('')).rejects.toThrow(/^herdless: the tags function of loadUser returned an unusable list: option 'tags\[0\]' must be a non-empty string/);
    await expect(byId('reserved')).rejects.toThrow(/option 'tags\[0\]' must be a tag that does not start with NUL/);
    await expect(byId('none')).rejects.toThrow(/^herdless: the tags function of loadUser returned an unusable list: option 'tags' must be an array/);
    expect(runs.of('loadUser')).toBe(0);
  });
});

describe('what a call hands the core', () => {
  // Each call's tags, as the core receives them.
  function spy(cache: Cache): unknown[] {
    const seen: unknown[] = [];
    const original = cache[TAGGED];
    cache[TAGGED] = function <T>(this: Cache, key: string, factory: () => T, options: Parameters<Cache[typeof TAGGED]>[2], tags: unknown) {
      seen.push(tags);
      return original.call(this, key, factory, options, tags) as Promise<Awaited<T>>;
    };
    return seen;
  }

  test("the function's own tag and its fixed tags: one frozen list per function, reused by every call", async () => {
    const cache = redis.cache();
    const seen = spy(cache);
    const load = cached(users(new Runs()), { cache, tags: ['users'], namespace: 'accounts', version: 2 });
    await Promise.all([load('1'), load('2')]);
    await load('1');
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual(['\0accounts/loadUser@2', 'users']);
    expect(Object.isFrozen(seen[0])).toBe(true);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
  });

  test("a method's own tag leaves out the instance part, and every instance's calls share one list", async () => {
    const cache = redis.cache();
    const seen = spy(cache);
    @CacheConfig({ cache, namespace: 'billing' })
    class Invoices {
      constructor(readonly tenant: string) {}

      @Cached({ instanceKey: (self: Invoices) => self.tenant })
      async total(month: string): Promise<string> {
        return `${this.tenant} ${month}`;
      }

      @Cached({ tags: (month: string) => [`month:${month}`] })
      async count(month: string): Promise<number> {
        return month.length;
      }
    }
    await new Invoices('acme').total('2024-01');
    await new Invoices('globex').total('2024-02');
    await new Invoices('acme').count('2024-01');
    expect(seen[0]).toEqual(['\0billing/Invoices.total']);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toEqual(['\0billing/Invoices.count', 'month:2024-01']);
  });

  test('a head too long for a tag is tagged by its SHA-256; one that fits is kept as it is', async () => {
    const cache = redis.cache();
    const seen = spy(cache);
    const runs = new Runs();
    const fits = cached(async () => runs.count('fits'), { cache, name: 'f'.repeat(255) });
    const long = cached(async () => runs.count('long'), { cache, name: 'l'.repeat(256) });
    await fits();
    await long();
    expect(seen[0]).toEqual(['\0' + 'f'.repeat(255)]);
    expect(seen[1]).toEqual(['\0~' + createHash('sha256').update('l'.repeat(256)).digest('base64url')]);
    await invalidateAll(long);
    await Promise.all([fits(), long()]);
    expect([runs.of('fits'), runs.of('long')]).toEqual([1, 2]);
  });
});

describe('invalidateAll(cached function)', () => {
  test("drops every argument list of the function, and no other function's entries", async () => {
    const cache = redis.cache();
    const runs = new Runs();
    const load = cached(users(runs), { cache, tags: (id) => [`user:${id}`] });
    const other = cached(async function loadTeam(id: string) {
      runs.count('loadTeam');
      return id;
    }, { cache });
    await Promise.all([load('1'), load('2'), other('1')]);
    await invalidateAll(load);
    await Promise.all([load('1'), load('2'), other('1')]);
    expect([runs.of('loadUser'), runs.of('loadTeam')]).toEqual([4, 1]);
    // Two wrappers with one name share entries on purpose, so they share the tag too.
    const again = cached(users(runs), { cache });
    await invalidateAll(again);
    await load('1');
    expect(runs.of('loadUser')).toBe(5);
  });
});

// The parent's copy of the worker's class and function: the same names, so the same keys and tags.
function define(cache: Cache) {
  @CacheConfig({ cache })
  class Reports {
    @Cached('1m')
    async monthly(month: string): Promise<string> {
      return `parent ${month}`;
    }

    @Cached('1m')
    async yearly(year: string): Promise<string> {
      return `parent ${year}`;
    }
  }
  const rate = cached(async function rate(currency: string) {
    return `parent ${currency}`;
  }, { cache, ttl: '1m' });
  return { reports: new Reports(), rate };
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  ask(call: Call): Promise<Reply>;
}

function start(namespace: string, l1: boolean): Worker {
  const child = fork(join(__dirname, 'invalidate-all-worker.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: redis.url, HERDLESS_NAMESPACE: namespace, HERDLESS_L1: l1 ? '1' : '0', TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`worker exited with ${code}`))));
  exited.catch(() => undefined);
  const ready = Promise.race([new Promise<void>((resolve) => child.once('message', () => resolve())), exited]);
  // One call at a time: the next message is its reply.
  const ask = (call: Call) => {
    const reply = Promise.race([new Promise<Reply>((resolve) => child.once('message', (message) => resolve(message as Reply))), exited]);
    child.send(call);
    return reply;
  };
  return { child, ready, ask };
}

/** Calls until the worker has run `call` `times` times in all: the invalidation reaches it over pub/sub. */
async function untilRecomputed(worker: Worker, call: Call, times: number): Promise<Reply> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const reply = await worker.ask(call);
    if (reply.runs[call.call] >= times) return reply;
    if (Date.now() > deadline) throw new Error(`the worker still serves ${call.call}(${call.arg}) from the cache after 5 s: ${JSON.stringify(reply)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each([
  ['without', false],
  ['with', true],
])('invalidateAll across processes (%s the memory tier in the other process)', (_, l1) => {
  test('invalidateAll in one process makes the other recompute every entry of that method or function, and no other', async () => {
    const cache = redis.cache();
    const worker = start(cache.namespace, l1);
    try {
      await worker.ready;
      expect((await worker.ask({ call: 'monthly', arg: '2024-01' })).value).toBe('report 2024-01 #1');
      await worker.ask({ call: 'monthly', arg: '2024-02' });
      await worker.ask({ call: 'yearly', arg: '2024' });
      await worker.ask({ call: 'rate', arg: 'EUR' });
      expect((await worker.ask({ call: 'monthly', arg: '2024-01' })).runs).toEqual({ monthly: 2, yearly: 1, rate: 1 });
      const { reports, rate } = define(cache);
      // Same keys in both processes: the parent is served what the worker computed.
      expect(await reports.monthly('2024-01')).toBe('report 2024-01 #1');

      await invalidateAll(reports.monthly);
      expect((await untilRecomputed(worker, { call: 'monthly', arg: '2024-01' }, 3)).value).toBe('report 2024-01 #3');
      expect((await untilRecomputed(worker, { call: 'monthly', arg: '2024-02' }, 4)).value).toBe('report 2024-02 #4');
      expect((await worker.ask({ call: 'yearly', arg: '2024' })).runs).toEqual({ monthly: 4, yearly: 1, rate: 1 });

      await invalidateAll(rate);
      expect((await untilRecomputed(worker, { call: 'rate', arg: 'EUR' }, 2)).value).toBe('EUR #2');
      expect((await worker.ask({ call: 'monthly', arg: '2024-01' })).runs).toEqual({ monthly: 4, yearly: 1, rate: 2 });
    } finally {
      if (worker.child.connected) worker.child.send('exit');
      setTimeout(() => {
        if (worker.child.exitCode === null) worker.child.kill();
      }, 5_000).unref();
    }
  }, 60_000);
});
