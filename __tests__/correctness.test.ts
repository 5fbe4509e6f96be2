import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createClient } from 'redis';
import { createCache, InvalidOptionError, v8Codec, WaitTimeoutError, type Cache, type CacheOptions } from '../src';
import { EnvelopeFormat } from '../src/envelope';
import { currentStamp } from '../support/stamp';
import { leaseScripts } from '../src/lease/scripts';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { compiledWorker } from './fixtures/compile';
import type { Hostile } from './fixtures/thrower';

// The promises the rest of the cache leans on: after delete() or set() resolves nobody is handed the older
// value; a lease always ends; whatever a factory throws, the process lives; an unreadable value is repaired.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const caches: Cache[] = [];
let count = 0;

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
  const created = createCache({ redis: { url: redis.url }, namespace: `c${++count}`, ...options });
  created.on('error', () => undefined);
  caches.push(created);
  return created;
}

function twin(of: Cache, options: CacheOptions = {}): Cache {
  const created = createCache({ redis: { url: redis.url }, namespace: of.namespace, ...options });
  created.on('error', () => undefined);
  caches.push(created);
  return created;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A factory the test settles by hand. */
function gate<T>() {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  let started = false;
  const factory = () => {
    started = true;
    return new Promise<T>((resolve, reject) => {
      open = resolve;
      fail = reject;
    });
  };
  return { factory, open: (value: T) => open(value), fail: (error: unknown) => fail(error), started: () => started };
}

describe('after an invalidation resolves, no caller is handed the older value', () => {
  test('a call that starts after delete() resolved does not join the computation it voided', async () => {
    const c = cache();
    const old = gate<string>();
    const first = c.getOrSet('user:1', old.factory);
    await until(old.started, 'the function to start');
    await c.delete('user:1');
    const after = c.getOrSet('user:1', () => 'after the update');
    old.open('before the update');
    expect(await first).toBe('before the update');
    expect(await after).toBe('after the update');
    expect(await c.get('user:1')).toBe('after the update');
  });

  test('a call that starts after set() resolved gets the value that was set', async () => {
    const c = cache();
    const old = gate<string>();
    const first = c.getOrSet('price', old.factory);
    await until(old.started, 'the function to start');
    await c.set('price', 'set by hand');
    const after = c.getOrSet('price', () => 'computed again');
    old.open('computed before the set');
    expect(await first).toBe('computed before the set');
    expect(await after).toBe('set by hand');
  });

  test('a remote delete() this process observed (its renewal came back lost) is not joined either', async () => {
    const c = cache({ lease: { ttl: 300 } });
    const old = gate<string>();
    const first = c.getOrSet('k', old.factory);
    await until(old.started, 'the function to start');
    await twin(c).delete('k');
    // The holder renews every 100 ms: by now its renewal has come back lost.
    await sleep(350);
    const after = c.getOrSet('k', () => 'fresh');
    old.open('stale');
    expect(await first).toBe('stale');
    expect(await after).toBe('fresh');
  });

  test('a waiter does not keep a pushed value after a later delete: the latest wake-up wins', async () => {
    const waiter = cache();
    const ns = waiter.namespace;
    const family = { value: `${ns}:{k}:v`, lease: `${ns}:{k}:lease`, channel: `${ns}:{k}:ch`, backoff: `${ns}:{k}:backoff` };
    const scripts = leaseScripts('PUBLISH');
    const stamp = await currentStamp(admin, ns);
    const envelope = (value: unknown) => new EnvelopeFormat(v8Codec, ns).encode(value, 'k', Date.now(), 60_000, 1, stamp);
    await admin.set(family.lease, 'holder-1', { PX: 20_000 });
    const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
    const answer = waiter.getOrSet('k', () => 'computed by the waiter');
    await waiting;
    await sleep(120); // the waiter is asleep between polls
    // In one round trip: holder-1 commits, the value is deleted, and holder-2 takes the lease. Both
    // wake-ups reach the waiter together.
    await Promise.all([
      admin.evalSha(scripts.commit.sha, { keys: [family.value, family.lease, family.channel, family.backoff], arguments: ['holder-1', envelope('deleted') as unknown as string, '60000'] })
        .catch(() => admin.eval(scripts.commit.source, { keys: [family.value, family.lease, family.channel, family.backoff], arguments: ['holder-1', envelope('deleted') as unknown as string, '60000'] })),
      admin.eval(scripts.invalidate.source, { keys: [family.value, family.lease, family.channel, family.backoff] }),
      admin.set(family.lease, 'holder-2', { PX: 20_000 }),
    ]);
    let settled: unknown;
    answer.then((value) => (settled = value), () => undefined);
    await sleep(300);
    expect(settled).toBeUndefined(); // still waiting on holder-2
    await admin.eval(scripts.commit.source, { keys: [family.value, family.lease, family.channel, family.backoff], arguments: ['holder-2', envelope('current') as unknown as string, '60000'] });
    expect(await answer).toBe('current');
  });
});

describe('keys', () => {
  test('keys with lone surrogates are refused: UTF-8 would turn them into one Redis key', async () => {
    const c = cache();
    for (const key of ['user:' + '😀'.slice(0, 1), 'user:' + '🌀'.slice(0, 1), 'x\udc00y']) {
      await expect(c.getOrSet(key, () => 1)).rejects.toThrow(InvalidOptionError);
      await expect(c.getOrSet(key, () => 1)).rejects.toThrow(/surrogate/);
      await expect(c.set(key, 1)).rejects.toThrow(InvalidOptionError);
      await expect(c.get(key)).rejects.toThrow(InvalidOptionError);
      await expect(c.delete(key)).rejects.toThrow(InvalidOptionError);
    }
    expect(await c.getOrSet('user:\ufffd', () => 'replacement character')).toBe('replacement character');
    expect(await c.getOrSet('user:😀', () => 'emoji')).toBe('emoji');
    expect(await admin.keys(`${c.namespace}:{*`)).toHaveLength(2);
  });
});

describe('whatever a factory throws, the caller gets it back, the lease ends, and the process lives', () => {
  const kinds: Hostile[] = ['null-prototype', 'throwing-getter', 'throwing-name', 'revoked-proxy'];
  test.each(kinds)('%s', async (kind) => {
    const namespace = `thrower-${kind}`;
    const child = fork(compiledWorker(join(__dirname, 'fixtures', 'thrower.ts')), [JSON.stringify({ url: redis.url, namespace, key: 'k', kind })], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const messages: unknown[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const next = (test: (message: unknown) => boolean) =>
      new Promise<unknown>((resolve, reject) => {
        const seen = messages.find(test);
        if (seen) return resolve(seen);
        child.on('message', (message) => test(message) && resolve(message));
        exited.then((code) => reject(new Error(`the process exited with ${code}`)));
      });
    child.on('message', (message) => messages.push(message));
    try {
      await next((m) => m === 'ready');
      await next((m) => m === 'leading');
      const waiter = createCache({ redis: { url: redis.url }, namespace, lease: { ttl: 20_000 } });
      waiter.on('error', () => undefined);
      caches.push(waiter);
      const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
      const answer = waiter.getOrSet('k', () => 'never').then(
        () => undefined,
        (error: unknown) => error,
      );
      await waiting;
      child.send('throw');
      expect(await next((m) => typeof m === 'object')).toEqual({ caught: true, same: true });
      expect(await admin.exists(`${namespace}:{k}:lease`)).toBe(0);
      const error = (await answer) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(typeof String(error)).toBe('string');
      expect(typeof error.message).toBe('string');
      expect(await next((m) => m === 'alive')).toBe('alive');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('errors shared with waiters', () => {
  test('a hostile payload becomes a plain Error: no prototype change, no toString override, only data fields', async () => {
    const waiter = cache();
    const ns = waiter.namespace;
    await admin.set(`${ns}:{k}:lease`, 'holder', { PX: 20_000 });
    const payload = JSON.stringify({ name: { not: 'a string' }, message: 'refused', stack: 7, fields: { __proto__: null, toString: 1, constructor: 2, message: 'over', name: 'over', stack: 'over', code: 'E_OK', status: 503 } })
      .replace('"fields":{', '"fields":{"__proto__":null,');
    const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
    const answer = waiter.getOrSet('k', () => 'never').then(() => undefined, (error: unknown) => error);
    await waiting;
    await admin.set(`${ns}:{k}:err:holder`, payload, { PX: 20_000 });
    await admin.del(`${ns}:{k}:lease`);
    await admin.publish(`${ns}:{k}:ch`, 'holder');
    const error = (await answer) as Error & Record<string, unknown>;
    expect(error).toBeInstanceOf(Error);
    expect(Object.getPrototypeOf(error)).toBe(Error.prototype);
    expect(String(error)).toBe('Error: refused');
    expect(error.message).toBe('refused');
    expect(error.code).toBe('E_OK');
    expect(error.status).toBe(503);
    expect(Object.prototype.hasOwnProperty.call(error, 'toString')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(error, 'constructor')).toBe(false);
  });

  test('only short, known fields of an error travel through Redis; errorFields widens the list', async () => {
    const leader = cache({ errorFields: ['requestId'] });
    const waiter = twin(leader);
    const failure = Object.assign(new Error('upstream said no'), {
      code: 'E_UPSTREAM',
      status: 502,
      requestId: 'r-17',
      config: { headers: { authorization: 'Bearer secret-token' } },
      password: 'hunter2',
    });
    const old = gate<never>();
    const leading = leader.getOrSet('k', old.factory).catch((error: unknown) => error);
    await until(old.started, 'the function to start');
    const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
    const answer = waiter.getOrSet('k', () => 'never').then(() => undefined, (error: unknown) => error);
    await waiting;
    old.fail(failure);
    expect(await leading).toBe(failure);
    const shared = (await answer) as Error & Record<string, unknown>;
    expect(shared.message).toBe('upstream said no');
    expect(shared.code).toBe('E_UPSTREAM');
    expect(shared.status).toBe(502);
    expect(shared.requestId).toBe('r-17');
    expect(shared.config).toBeUndefined();
    expect(shared.password).toBeUndefined();
    // What Redis holds for the lease's waiters.
    const [key] = await admin.keys(`${leader.namespace}:{k}:err:*`);
    const stored = (await admin.get(key)) ?? '';
    expect(stored).toContain('E_UPSTREAM');
    expect(stored).not.toMatch(/secret-token|hunter2/);
  });
});

describe('a lease always ends', () => {
  test('a factory that never settles: after lease.maxHold its waiters take over, same-process callers are bounded like remote ones, and its late result is fenced', async () => {
    const options: CacheOptions = { lease: { ttl: 300, maxHold: 800 }, wait: { timeout: 1_500 } };
    const hung = cache(options);
    const other = twin(hung, options);
    const fences: string[] = [];
    hung.on('fence', (key) => fences.push(key));
    const stuck = gate<string>();
    void hung.getOrSet('k', stuck.factory);
    await until(stuck.started, 'the function to start');
    // A caller in the same process joins the hung call; one in another process waits on its lease.
    const joined = hung.getOrSet('k', () => 'joined computed its own');
    const remote = other.getOrSet('k', () => 'taken over');
    expect(await remote).toBe('taken over');
    expect(await other.get('k')).toBe('taken over');
    expect(await joined).toBe('joined computed its own');
    // The hung call is no longer joined: a new call in its process reads the value written since.
    expect(await hung.getOrSet('k', () => 'never')).toBe('taken over');
    stuck.open('too late');
    await until(() => fences.length > 0, 'the late commit to be fenced');
    expect(await other.get('k')).toBe('taken over');
  });

  test("a same-process caller joined to a slow leader waits no longer than wait.timeout, as a remote waiter would, and obeys onTimeout 'throw'", async () => {
    const c = cache({ wait: { timeout: 300, onTimeout: 'throw' } });
    const slow = gate<string>();
    const first = c.getOrSet('k', slow.factory);
    await until(slow.started, 'the function to start');
    await expect(c.getOrSet('k', () => 'never')).rejects.toThrow(WaitTimeoutError);
    slow.open('done');
    expect(await first).toBe('done');
  });

  test('a commit that Redis refuses ends the lease at once, so waiters move on', async () => {
    const leader = cache({ lease: { ttl: 20_000 } });
    const waiter = twin(leader, { lease: { ttl: 20_000 } });
    const slow = gate<string>();
    const leading = leader.getOrSet('k', slow.factory);
    await until(slow.started, 'the function to start');
    const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
    const answer = waiter.getOrSet('k', () => 'computed by the waiter');
    await waiting;
    await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' });
    try {
      slow.open('refused by Redis');
      expect(await leading).toBe('refused by Redis');
      await until(async () => (await admin.exists(`${leader.namespace}:{k}:lease`)) === 0, 'the lease to end', 5_000);
      expect(await answer).toBe('computed by the waiter');
    } finally {
      await admin.configSet({ maxmemory: '0' });
    }
    expect(await admin.exists(`${leader.namespace}:{k}:v`)).toBe(0);
  });

  test('durations are bounded to what Redis and timers accept', async () => {
    for (const ttl of [Number.MAX_VALUE, 2 ** 60, '100000000000d'] as const) {
      expect(() => createCache({ ttl: ttl as number })).toThrow(InvalidOptionError);
      expect(() => createCache({ ttl: ttl as number })).toThrow(/ttl/);
    }
    expect(() => createCache({ lease: { ttl: '30d' } })).toThrow(/lease\.ttl/);
    expect(() => createCache({ lease: { maxHold: 2 ** 40 } })).toThrow(/lease\.maxHold/);
    expect(() => createCache({ commandTimeout: 2 ** 40 })).toThrow(/commandTimeout/);
    expect(() => createCache({ wait: { timeout: 2 ** 40 } })).toThrow(/wait\.timeout/);
    const c = cache();
    await expect(c.getOrSet('k', () => 1, { ttl: Number.MAX_VALUE })).rejects.toThrow(InvalidOptionError);
    await expect(c.set('k', 1, { ttl: 2 ** 60 })).rejects.toThrow(InvalidOptionError);
    // The largest accepted ttl is one Redis takes.
    await c.set('far', 1, { ttl: '100000d' });
    expect(await c.get('far')).toBe(1);
  });
});

describe('an unreadable stored value', () => {
  test('is replaced once under the lease, then served: 20 calls, 1 run', async () => {
    const c = cache();
    const good = new EnvelopeFormat(v8Codec, c.namespace).encode(new Map([[1, 2]]), 'report', Date.now(), 3_600_000, 1, await currentStamp(admin, c.namespace));
    const corrupt = Buffer.concat([good.subarray(0, good.length - 6), Buffer.from([0xff, 0x0f, 0xee, 0xee, 0xee, 0xee])]);
    await admin.set(`${c.namespace}:{report}:v`, corrupt, { PX: 3_600_000 });
    let runs = 0;
    for (let i = 0; i < 20; i++) expect(await c.getOrSet('report', () => ++runs)).toBe(1);
    expect(runs).toBe(1);
    expect(await twin(c).get('report')).toBe(1);
  });

  test('concurrent readers in several caches repair it once', async () => {
    const c = cache();
    const twins = [c, twin(c), twin(c)];
    await admin.set(`${c.namespace}:{k}:v`, Buffer.from('hl\x01\x02v8garbage-without-times'), { PX: 3_600_000 });
    let runs = 0;
    const values = await Promise.all(twins.flatMap((t) => Array.from({ length: 10 }, () => t.getOrSet('k', async () => {
      runs++;
      await sleep(100);
      return 'repaired';
    }))));
    expect(new Set(values)).toEqual(new Set(['repaired']));
    expect(runs).toBe(1);
  });
});
