import { commandOptions, createClient } from 'redis';
import { createCache, type Cache } from '../../src';
import { KeyLayout } from '../../src/keys';
import { bounded, sleep } from '../lib/time';
import { HIT_VALUE } from './hits';

export interface MemoryRequest {
  url: string;
  /** Keys held in flight at once. */
  inflight: number;
  /** Distinct keys that come and go. */
  churn: number;
  /** How many of them are in flight at a time. */
  batch: number;
}

export interface MemoryResult {
  /** Bytes of heap per pending promise and resolver, the caller's own share, subtracted below. */
  controlPerKey: number;
  leaderPerKey: number;
  waiterPerKey: number;
  /** Heap left after the in-flight keys settled, against before they started. */
  afterInflight: number;
  /** Heap left after `churn` keys came and went, against before. */
  afterChurn: number;
  baseHeap: number;
  /** Waiters that were waiting when measured (all of them, unless Redis could not keep up). */
  waitersSeen: number;
}

declare const gc: () => void;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(10);
  }
  return process.memoryUsage().heapUsed;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  await bounded(
    (async () => {
      while (!condition()) await sleep(20);
    })(),
    60_000,
    what,
  );
}

/**
 * herdless's heap per key in flight (as leader, then as waiter in a second cache of the same process),
 * and what is left once they settle and after many distinct keys have come and gone. Needs --expose-gc.
 */
export async function memory(request: MemoryRequest): Promise<MemoryResult> {
  const namespace = `mem${process.pid}`;
  // Thousands of calls start at once on one connection here; a longer command timeout keeps every one of
  // them on the cache path (the default 1 s would answer some without the cache) so each holds its state.
  const leaders = createCache({ redis: { url: request.url }, namespace, commandTimeout: '30s' });
  const waiters = createCache({ redis: { url: request.url }, namespace, commandTimeout: '30s' });
  let waiting = 0;
  let faults = 0;
  waiters.on('wait', () => waiting++);
  waiters.on('error', () => faults++);
  leaders.on('error', () => faults++);
  try {
    await warm(leaders, waiters);
    const keys = Array.from({ length: request.inflight }, (_, i) => `inflight:${i}`);

    // The caller's own share: a pending promise and its resolver per key.
    const base0 = await settledHeap();
    const controlResolvers: (() => void)[] = [];
    const control = keys.map(() => new Promise<void>((resolve) => controlResolvers.push(resolve)));
    const controlHeap = await settledHeap();
    controlResolvers.forEach((resolve) => resolve());
    await Promise.all(control);
    controlResolvers.length = 0;
    control.length = 0;

    const baseHeap = await settledHeap();
    const releases: (() => void)[] = [];
    const led = keys.map((key) => leaders.getOrSet(key, () => new Promise((resolve) => releases.push(() => resolve(HIT_VALUE)))));
    await until(() => releases.length === keys.length, 'leaders starting');
    const leaderHeap = await settledHeap();
    waiting = 0;
    faults = 0;
    const waited = keys.map((key) => waiters.getOrSet(key, async () => HIT_VALUE));
    await until(() => waiting + faults >= keys.length, 'waiters waiting');
    const waitersSeen = waiting;
    await sleep(200);
    const waiterHeap = await settledHeap();
    releases.forEach((release) => release());
    await Promise.all([...led, ...waited]);
    releases.length = 0;
    led.length = 0;
    waited.length = 0;
    const afterInflightHeap = await settledHeap();

    const beforeChurn = await settledHeap();
    for (let start = 0; start < request.churn; start += request.batch) {
      const batch: Promise<unknown>[] = [];
      for (let i = start; i < Math.min(request.churn, start + request.batch); i++) {
        const key = `churn:${i}`;
        batch.push(leaders.getOrSet(key, async () => HIT_VALUE), waiters.getOrSet(key, async () => HIT_VALUE));
      }
      await Promise.all(batch);
    }
    const afterChurn = (await settledHeap()) - beforeChurn;

    const controlPerKey = (controlHeap - base0) / keys.length;
    return {
      controlPerKey,
      leaderPerKey: (leaderHeap - baseHeap) / keys.length - controlPerKey,
      waiterPerKey: (waiterHeap - leaderHeap) / keys.length - controlPerKey,
      afterInflight: afterInflightHeap - baseHeap,
      afterChurn,
      baseHeap,
      waitersSeen,
    };
  } finally {
    await Promise.all([leaders.close(), waiters.close()]);
  }
}

/** Connections, scripts and the subscriber exist before measuring, as in a process that has run a while. */
async function warm(leaders: Cache, waiters: Cache): Promise<void> {
  let release!: () => void;
  const led = leaders.getOrSet('warm', () => new Promise((resolve) => (release = () => resolve(1))));
  await until(() => release !== undefined, 'warm-up leader');
  const waited = waiters.getOrSet('warm', async () => 2);
  await sleep(100);
  release();
  await Promise.all([led, waited]);
}

export interface MemoryL1Request {
  url: string;
  /** The memory tier's bound (l1.maxEntries); also how many entries are filled for the per-entry figure. */
  maxEntries: number;
  /** Distinct keys passed through the bounded tier afterwards. */
  churn: number;
  /** Keys seeded in Redis, read and dropped from Redis at a time. */
  batch: number;
}

export interface MemoryL1Result {
  maxEntries: number;
  maxBytes: string;
  /** The stored bytes of the 1 KB value (herdless's envelope and the V8 codec's bytes). */
  valueBytes: number;
  /** Heap (heapUsed) and off-heap buffers (arrayBuffers) after GC, before any entry was filled. */
  baseHeap: number;
  baseBuffers: number;
  /** With maxEntries entries held, against the base: in all, and per entry. */
  heapWithEntries: number;
  buffersWithEntries: number;
  heapPerEntry: number;
  buffersPerEntry: number;
  /** Entries the tier held after the fill (its size), where the cache exposes it; undefined otherwise. */
  heldAfterFill: number | undefined;
  /** Of the filled keys read again, how many were answered from memory ('hit' events). */
  memoryHitsAfterFill: number;
  /** Distinct keys passed through, and how long that took (Redis seeding and dropping included). */
  churn: number;
  churnMs: number;
  /** After the churn, against the base. */
  heapAfterChurn: number;
  buffersAfterChurn: number;
  heldAfterChurn: number | undefined;
  /** Of the last maxEntries keys of the churn read again, how many were answered from memory. */
  memoryHitsAfterChurn: number;
  /** Factory runs while filling and churning: every key was in Redis, so 0 is expected. */
  factoryRuns: number;
}

/** A value of about 1 KB once stored: a user record with a long text field. */
export const KB_VALUE = { ...HIT_VALUE, bio: 'Analyst, metaphysician and founder of scientific computing. '.repeat(15).slice(0, 860) };

async function settled(): Promise<{ heap: number; buffers: number }> {
  await settledHeap();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, buffers: usage.arrayBuffers };
}

/**
 * herdless's memory tier: heap per entry of a 1 KB value (maxEntries entries filled into a tier bounded
 * at maxEntries and 64 MB, which they fit), then the heap after `churn` distinct keys passed through that
 * tier, to show the bound holds. A key enters the tier when a read finds it fresh in Redis (a miss the
 * process computes itself does not), so each key is first written to Redis (the envelope of one value,
 * SET from a pipeline), then read with getOrSet, then dropped from Redis. Needs --expose-gc.
 */
export async function memoryL1(request: MemoryL1Request): Promise<MemoryL1Result> {
  const namespace = `l1mem${process.pid}`;
  const maxBytes = '64mb';
  const cache = createCache({ redis: { url: request.url }, namespace, ttl: '10m', commandTimeout: '30s', l1: { maxEntries: request.maxEntries, maxBytes } });
  const raw = createClient({ url: request.url });
  await raw.connect();
  const layout = new KeyLayout(namespace);
  let factoryRuns = 0;
  const factory = async () => {
    factoryRuns++;
    return KB_VALUE;
  };
  const tiers = { memory: 0, redis: 0 };
  const onHit = (_key: string, tier: 'memory' | 'redis') => tiers[tier]++;
  // The tier's size is not public: read it where it is, else leave it out.
  const held = () => {
    const size = (cache as unknown as { memory?: { size?: unknown } }).memory?.size;
    return typeof size === 'number' ? size : undefined;
  };
  /** Memory hits among `keys` read once more. */
  const probe = async (keys: string[]) => {
    tiers.memory = 0;
    cache.on('hit', onHit);
    try {
      await inBatches(keys, 1000, (key) => cache.getOrSet(key, factory));
    } finally {
      cache.off('hit', onHit);
    }
    return tiers.memory;
  };
  try {
    // The tier fills only once its subscription is proven live (subscribed on the first call, proven by
    // its first echo): call until a hit comes from memory.
    await cache.getOrSet('warm', factory);
    cache.on('hit', onHit);
    try {
      await until(() => {
        void cache.getOrSet('warm', factory);
        return tiers.memory > 0;
      }, 'a hit from the memory tier');
    } finally {
      cache.off('hit', onHit);
    }
    await cache.set('template', KB_VALUE);
    const bytes = await raw.get(commandOptions({ returnBuffers: true }), layout.value('template'));
    if (!bytes) throw new Error('set() stored nothing');
    const through = async (keys: string[]) => {
      await Promise.all(keys.map((key) => raw.set(layout.value(key), bytes, { PX: 600_000 })));
      await inBatches(keys, 1000, (key) => cache.getOrSet(key, factory));
      await raw.unlink(keys.map((key) => layout.value(key)));
    };

    const base = await settled();
    const filled = Array.from({ length: request.maxEntries }, (_, i) => `e:${i}`);
    for (let i = 0; i < filled.length; i += request.batch) await through(filled.slice(i, i + request.batch));
    const withEntries = await settled();
    const heldAfterFill = held();
    const memoryHitsAfterFill = await probe(filled);

    const started = Date.now();
    for (let start = 0; start < request.churn; start += request.batch) {
      const keys: string[] = [];
      for (let i = start; i < Math.min(request.churn, start + request.batch); i++) keys.push(`c:${i}`);
      await through(keys);
    }
    const churnMs = Date.now() - started;
    const afterChurn = await settled();
    const heldAfterChurn = held();
    const last = Array.from({ length: Math.min(request.maxEntries, request.churn) }, (_, i) => `c:${request.churn - 1 - i}`).reverse();
    const fillRuns = factoryRuns;
    const memoryHitsAfterChurn = await probe(last);
    return {
      maxEntries: request.maxEntries,
      maxBytes,
      valueBytes: bytes.length,
      baseHeap: base.heap,
      baseBuffers: base.buffers,
      heapWithEntries: withEntries.heap - base.heap,
      buffersWithEntries: withEntries.buffers - base.buffers,
      heapPerEntry: (withEntries.heap - base.heap) / filled.length,
      buffersPerEntry: (withEntries.buffers - base.buffers) / filled.length,
      heldAfterFill,
      memoryHitsAfterFill,
      churn: request.churn,
      churnMs,
      heapAfterChurn: afterChurn.heap - base.heap,
      buffersAfterChurn: afterChurn.buffers - base.buffers,
      heldAfterChurn,
      memoryHitsAfterChurn,
      factoryRuns: fillRuns,
    };
  } finally {
    await cache.close();
    await raw.quit();
  }
}

/** `each` for every key, `size` at a time. */
async function inBatches(keys: string[], size: number, each: (key: string) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < keys.length; i += size) await Promise.all(keys.slice(i, i + size).map(each));
}
