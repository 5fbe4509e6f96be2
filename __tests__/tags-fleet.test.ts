import { createClient } from 'redis';
import { tagMessage } from '../src/bus/invalidations';
import { bumpVersion } from '../src/tags/scripts';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFreshFleet, type FleetEvent, type FreshFleet } from './fixtures/freshness-fleet';
import type { CacheSpec, CallResult, FactorySpec } from './fixtures/freshness-worker';
import type { CallOptions } from '../src';

// Tags, clear() and their invalidation channel across real processes: one Redis for the file, 3
// long-lived worker processes (fixtures/freshness-worker.ts), each test on a namespace of its own, every
// test with and without the memory tier. Runs are counted fleet-wide with an INCR in Redis (the run
// number is part of every value), so "computed after the invalidation" is checked by run numbers, never
// by clocks. Another process is allowed 100 ms for the channel to deliver an invalidation (it takes about
// 1 ms); the process that invalidated is allowed none. The only time bounds are generous hang detectors.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let fleet: FreshFleet;
let count = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  fleet = await startFreshFleet(3, redis.url);
});

afterAll(async () => {
  await fleet?.stop();
  await admin?.quit();
  await redis?.stop();
});

/** What another process is allowed for the channel to deliver an invalidation. */
const DELIVERY_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`'s outcome, or 'hung' after `ms` (a hang detector whose timer does not outlive it). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function spec(name: string, l1: boolean, options: CacheSpec['options'] = {}): CacheSpec {
  return { namespace: `tags-${name}-${l1 ? 'l1' : 'redis'}-${++count}`, options: { ttl: 60_000, l1, ...options } };
}

const runs = async (of: CacheSpec, key: string) => Number((await admin.get(`runs:${of.namespace}:${key}`)) ?? 0);
const gets = async () => Number((await admin.info('commandstats')).match(/cmdstat_get:calls=(\d+)/)?.[1] ?? 0);
const eventsOf = (of: CacheSpec, event: string, key?: string): FleetEvent[] =>
  fleet.events.filter((e) => e.namespace === of.namespace && e.event === event && (key === undefined || e.key === key));

/** Each key's call options (its tags). */
type Keys = Record<string, CallOptions | undefined>;

const factory = (key: string, delayMs = 50): FactorySpec => ({ value: key, delayMs });

/** `callers` concurrent callers of `key` in every worker, all at `at`. */
async function everyone(of: CacheSpec, key: string, options: CallOptions | undefined, at: number, callers = 3, delayMs = 100): Promise<CallResult[]> {
  return (await Promise.all(fleet.workers.map((w) => w.call(of, key, factory(key, delayMs), options, { callers, at })))).flat();
}

/** Every worker (or those `readers` names) reads every key back to back for `forMs`; resolves with the reads, by key. */
async function readAll(of: CacheSpec, keys: Keys, forMs: number, gapMs = 10, readers: (key: string) => number[] = () => [0, 1, 2]): Promise<Record<string, (CallResult & { worker: number })[]>> {
  const at = Date.now() + 20;
  const out: Record<string, (CallResult & { worker: number })[]> = {};
  await Promise.all(
    Object.entries(keys).flatMap(([key, options]) =>
      fleet.workers.filter((w) => readers(key).includes(w.index)).map(async (w) => {
        const reads = await w.loop(of, key, factory(key), { forMs, gapMs, options, at });
        (out[key] ??= []).push(...reads.map((read) => ({ ...read, worker: w.index })));
      }),
    ),
  );
  return out;
}

function expectAllOk(results: CallResult[]) {
  expect(results.filter((r) => !r.ok)).toEqual([]);
}

/** Fills every key (one worker), then every worker reads them a while: the memory tiers fill, when on. */
async function fillAndWarm(of: CacheSpec, keys: Keys): Promise<void> {
  for (const [key, options] of Object.entries(keys)) {
    const [filled] = await fleet.workers[0].call(of, key, factory(key), options);
    expect(filled.ok).toBe(true);
  }
  const reads = await readAll(of, keys, 1_200);
  for (const [key, list] of Object.entries(reads)) {
    expectAllOk(list);
    expect(new Set(list.map((r) => r.value!.run))).toEqual(new Set([1]));
    expect(await runs(of, key)).toBe(1);
  }
}

/** With the memory tier on: reads are answered from memory (most never reach Redis). Polls, bounded. */
async function expectMemoryInUse(of: CacheSpec, keys: Keys): Promise<void> {
  let last = '';
  for (const end = Date.now() + 10_000; Date.now() < end; ) {
    const before = await gets();
    const reads = Object.values(await readAll(of, keys, 500)).flat();
    const sent = (await gets()) - before;
    expectAllOk(reads);
    if (sent < reads.length / 2) return;
    last = `${sent} GETs for ${reads.length} reads`;
  }
  throw new Error(`the memory tier never answered: ${last}`);
}

describe.each([false, true])('l1: %s', (l1) => {
  test('invalidateTags in one process: every process recomputes the tagged entry (one run fleet-wide), the others stay hits', async () => {
    const s = spec('everywhere', l1);
    const keys: Keys = { a: { tags: ['t1'] }, b: { tags: ['t2'] }, c: undefined };
    const [w0, , w2] = fleet.workers;
    await fillAndWarm(s, keys);
    if (l1) await expectMemoryInUse(s, keys);

    await w0.invalidateTags(s, ['t1']);
    const at = Date.now() + DELIVERY_MS;
    const [a, b, c] = await Promise.all(Object.entries(keys).map(([key, options]) => everyone(s, key, options, at)));
    for (const results of [a, b, c]) {
      expectAllOk(results);
      expect(results).toHaveLength(9);
    }
    // Every caller in every process got the one value computed after the invalidation.
    expect(a.map((r) => r.value!.run)).toEqual(Array(9).fill(2));
    expect(await runs(s, 'a')).toBe(2);
    expect(b.map((r) => r.value!.run)).toEqual(Array(9).fill(1));
    expect(c.map((r) => r.value!.run)).toEqual(Array(9).fill(1));
    expect(await runs(s, 'b')).toBe(1);
    expect(await runs(s, 'c')).toBe(1);

    // Several tags at once, from another process: each tagged entry recomputes once; the untagged one never.
    await w2.invalidateTags(s, ['t1', 't2', 'nobody-uses-this']);
    const again = Date.now() + DELIVERY_MS;
    const [a2, b2, c2] = await Promise.all(Object.entries(keys).map(([key, options]) => everyone(s, key, options, again)));
    for (const results of [a2, b2, c2]) expectAllOk(results);
    expect(a2.map((r) => r.value!.run)).toEqual(Array(9).fill(3));
    expect(b2.map((r) => r.value!.run)).toEqual(Array(9).fill(2));
    expect(c2.map((r) => r.value!.run)).toEqual(Array(9).fill(1));
    expect([await runs(s, 'a'), await runs(s, 'b'), await runs(s, 'c')]).toEqual([3, 2, 1]);

    // And the new values are cached again everywhere.
    const settled = await readAll(s, keys, 300);
    expect(settled.a.map((r) => r.value!.run).every((run) => run === 3)).toBe(true);
    expect([await runs(s, 'a'), await runs(s, 'b'), await runs(s, 'c')]).toEqual([3, 2, 1]);
    expect(eventsOf(s, 'error')).toEqual([]);
  });

  test('a tag invalidated while its function runs: the caller that started before gets that value, every call started after gets a value computed after', async () => {
    const s = spec('slow', l1);
    const options: CallOptions = { tags: ['slow'] };
    const [w0, w1, w2] = fleet.workers;
    const slow = w0.call(s, 'k', { value: 'slow', delayMs: 1_500 }, options, { callers: 2 });
    // The factory counts its run after the stamp was taken: the invalidation lands while it runs.
    await until(async () => (await runs(s, 'k')) === 1, 'the slow run to start');
    await w1.invalidateTags(s, ['slow']);
    const resolvedAt = Date.now();
    const after: FactorySpec = { value: 'after', delayMs: 300 };
    // The process that invalidated, at once; then every process (worker 0 has the slow run in flight).
    const own = w1.call(s, 'k', after, options, { callers: 2 });
    const others = Promise.all([w0, w1, w2].map((w) => w.call(s, 'k', after, options, { callers: 2, at: resolvedAt + DELIVERY_MS })));
    const [slowResults, ownResults, otherResults] = await Promise.all([slow, own, others.then((r) => r.flat())]);
    expectAllOk([...slowResults, ...ownResults, ...otherResults]);
    expect(slowResults.map((r) => [r.value!.value, r.value!.run])).toEqual([['slow', 1], ['slow', 1]]);
    // Never the slow value: one run, computed after the invalidation, shared by every process.
    for (const r of [...ownResults, ...otherResults]) expect([r.value!.value, r.value!.run]).toEqual(['after', 2]);
    expect(await runs(s, 'k')).toBe(2);
    // The slow result was fenced, not written: what is cached is the run after.
    const fence = await fleet.waitFor((e) => e.namespace === s.namespace && e.event === 'fence' && e.key === 'k' && e.worker === 0, "worker 0's fence of the slow run");
    // And its lease was voided as soon as worker 0 heard of the invalidation: the run after was led before
    // the slow run even ended (an order of events, ~1.4 s apart, not a time bound).
    const leads = eventsOf(s, 'lead', 'k').sort((x, y) => x.at - y.at);
    expect(leads).toHaveLength(2);
    expect(leads[1].at).toBeLessThan(fence.at);
    const later = await everyone(s, 'k', options, Date.now() + 20, 2);
    expectAllOk(later);
    for (const r of later) expect([r.value!.value, r.value!.run]).toEqual(['after', 2]);
    expect(await runs(s, 'k')).toBe(2);
  });

  test('clear() under load: no call started after it resolved is handed a value computed before it, and no call fails', async () => {
    // A short ttl keeps k1 and k2 recomputing, so values are always being computed and committed when
    // clear() lands; k3 and k4 keep theirs, and the process that clears never reads them. Worker 2 reads
    // only k3 and k4: no value newer than the clear comes its way, only the channel (or a distrust of it)
    // can tell it that they are gone.
    const s = spec('clear', l1);
    const keys: Keys = { k1: { tags: ['g'], ttl: 400 }, k2: { tags: ['g', 'h'], ttl: 400 }, k3: { tags: ['h'] }, k4: undefined };
    const readers = (key: string) => (key === 'k1' || key === 'k2' ? [0, 1] : [1, 2]);
    const [w0] = fleet.workers;
    const forMs = 3_000;
    const reading = readAll(s, keys, forMs, 10, readers);
    await sleep(forMs / 2);
    // Every run counted so far started before clear() was sent, so its stamp predates the clear: none of
    // them may be served to a call that starts after clear() resolved.
    const names = Object.keys(keys);
    const before = (await admin.mGet(names.map((key) => `runs:${s.namespace}:${key}`))).map(Number);
    await w0.clear(s);
    const clearedAt = Date.now();
    const reads = await reading;
    expect(Object.values(reads).flat().length).toBeGreaterThan(200);
    const late: unknown[] = [];
    const checked = new Map<string, number>();
    names.forEach((key, i) => {
      expect(before[i]).toBeGreaterThanOrEqual(1);
      expectAllOk(reads[key]);
      for (const read of reads[key]) {
        // The process that cleared: no margin. Others: once the channel delivered it.
        const after = clearedAt + (read.worker === w0.index ? 0 : DELIVERY_MS);
        if (read.startedAt <= after) continue;
        checked.set(`${key}@${read.worker}`, (checked.get(`${key}@${read.worker}`) ?? 0) + 1);
        if (read.value!.run <= before[i]) late.push({ key, worker: read.worker, run: read.value!.run, before: before[i], startedAt: read.startedAt - clearedAt });
      }
    });
    expect(late).toEqual([]);
    // Not vacuous: every reader of every key read it after the clear.
    expect(checked.size).toBe(names.reduce((n, key) => n + readers(key).length, 0));
  });

  test('subscriber connections killed as a tag is invalidated: no process serves the invalidated value, and caching resumes', async () => {
    const s = spec('bus-loss', l1);
    const keys: Keys = { a: { tags: ['t'] }, b: { tags: ['u'] } };
    const ns = s.namespace;
    await fillAndWarm(s, keys);
    if (l1) await expectMemoryInUse(s, keys);

    const check = async (round: number, resolvedAt: number, invalidator: number | undefined) => {
      const reads = await readAll(s, keys, 2_000);
      expectAllOk([...reads.a, ...reads.b]);
      const stale = reads.a.filter((r) => r.startedAt > resolvedAt + (r.worker === invalidator ? 0 : DELIVERY_MS) && r.value!.run < round + 1);
      expect(stale.map((r) => ({ worker: r.worker, run: r.value!.run, startedAt: r.startedAt - resolvedAt }))).toEqual([]);
      // One recompute fleet-wide, with the bus down; the other tag's entry stays valid.
      expect(await runs(s, 'a')).toBe(round + 1);
      expect(await runs(s, 'b')).toBe(1);
      expect(reads.b.every((r) => r.value!.run === 1)).toBe(true);
    };

    // 1. In one round trip on one connection: every subscriber is killed, then the tag is invalidated.
    // Its message is lost for every process for sure.
    const version = `test-${Date.now()}`;
    await Promise.all([
      admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']),
      admin.eval(bumpVersion.source, { keys: [`${ns}:tag:{t}`], arguments: [version, `${ns}:invalidations`, tagMessage('t', version)] }),
    ]);
    await check(1, Date.now(), undefined);

    // 2. The subscribers are killed and, at once, a worker invalidates the tag through the API.
    await Promise.all([admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']), fleet.workers[1].invalidateTags(s, ['t'])]);
    await check(2, Date.now(), 1);

    // Caching resumes: a window of reads without a run (and, with l1, answered from memory again).
    await until(async () => {
      const before = [await runs(s, 'a'), await runs(s, 'b')];
      const reads = Object.values(await readAll(s, keys, 500)).flat();
      expectAllOk(reads);
      const after = [await runs(s, 'a'), await runs(s, 'b')];
      return before[0] === after[0] && before[1] === after[1] && reads.every((r) => r.value!.run === (r.value!.value === 'a' ? 3 : 1));
    }, 'a window of reads without a run');
    if (l1) await expectMemoryInUse(s, keys);
  }, 60_000);

  test('a call started after an invalidation never joins a call in flight from before it: a stale-while-revalidate wait in the same process', async () => {
    // Worker 0 refreshes a stale value slowly; worker 1's caller waits for that refresh (softTimeout) and
    // will be answered with the stale value. The tag is invalidated meanwhile, in worker 1: a caller that
    // starts there afterwards must not share the pending call (it would get the invalidated stale value),
    // nor may any process serve the invalidated value as stale.
    const s = spec('swr', l1, { ttl: 300, grace: '30s', softTimeout: 1_500 });
    const options: CallOptions = { tags: ['s'] };
    const [w0, w1, w2] = fleet.workers;
    const [filled] = await w0.call(s, 'k', { value: 'old', delayMs: 0 }, options);
    expect(filled.value!.run).toBe(1);
    await sleep(600); // past the ttl, well within grace
    const refreshing = w0.call(s, 'k', { value: 'refresh', delayMs: 3_000 }, options);
    await until(async () => (await runs(s, 'k')) === 2, "worker 0's refresh to start");
    const after: FactorySpec = { value: 'after', delayMs: 2_500 };
    const pending = w1.call(s, 'k', after, options);
    await fleet.waitFor((e) => e.namespace === s.namespace && e.event === 'wait' && e.key === 'k' && e.worker === 1, "worker 1's caller to wait for the refresh");
    await w1.invalidateTags(s, ['s']);
    const resolvedAt = Date.now();
    const [own, other, [early], [refresher]] = await Promise.all([
      w1.call(s, 'k', after, options),
      w2.call(s, 'k', after, options, { at: resolvedAt + DELIVERY_MS }),
      pending,
      refreshing,
    ]);
    expectAllOk([...own, ...other, early, refresher]);
    // Started before the invalidation: the stale value is theirs to have.
    expect(refresher.value!.run).toBe(1);
    expect(early.value!.run).toBe(1);
    // Started after it: one value computed after it, in both processes.
    for (const r of [...own, ...other]) expect([r.value!.value, r.value!.run]).toEqual(['after', 3]);
    expect(await runs(s, 'k')).toBe(3);
  });

  test('a leader whose tag is invalidated while its waiters in other processes wait: the waiters get a value computed after it, promptly', async () => {
    const s = spec('leader', l1);
    const options: CallOptions = { tags: ['x'] };
    const [w0, w1, w2] = fleet.workers;
    const lead = w0.call(s, 'k', { value: 'slow', delayMs: 1_500 }, options);
    await until(async () => (await runs(s, 'k')) === 1, 'the slow run to start');
    const after: FactorySpec = { value: 'after', delayMs: 300 };
    const waiting = Promise.all([w1, w2].map((w) => w.call(s, 'k', after, options, { callers: 2 }))).then((r) => r.flat());
    const waited = (w: number) => fleet.waitFor((e) => e.namespace === s.namespace && e.event === 'wait' && e.key === 'k' && e.worker === w, `worker ${w} to wait`);
    await Promise.all([waited(1), waited(2)]);
    await w1.invalidateTags(s, ['x']);
    // A hang detector, far above anything the protocol needs (the lease is voided at once; 10 s is its ttl).
    const outcome = await within(waiting, 15_000);
    expect(outcome).not.toBe('hung');
    const results = outcome as CallResult[];
    expectAllOk(results);
    for (const r of results) expect([r.value!.value, r.value!.run]).toEqual(['after', 2]);
    const [leader] = await lead;
    expect([leader.value!.value, leader.value!.run]).toEqual(['slow', 1]);
    // The lease was voided at once: a waiter took over before the slow run ended and was fenced (an order
    // of events, ~1.4 s apart, not a time bound).
    const fence = await fleet.waitFor((e) => e.namespace === s.namespace && e.event === 'fence' && e.key === 'k' && e.worker === 0, "worker 0's fence of the slow run");
    const takeovers = eventsOf(s, 'takeover', 'k');
    expect(takeovers).toHaveLength(1);
    expect(takeovers[0].at).toBeLessThan(fence.at);
    expect(await runs(s, 'k')).toBeLessThanOrEqual(2);
    // The slow value was never written.
    const later = await everyone(s, 'k', options, Date.now() + 20, 1);
    for (const r of later) expect([r.value!.value, r.value!.run]).toEqual(['after', 2]);
    expect(await runs(s, 'k')).toBe(2);
  });
});
