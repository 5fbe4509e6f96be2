import { createCache, type Cache } from '../../src';
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
