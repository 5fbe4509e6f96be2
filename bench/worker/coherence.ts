import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { record, type Histogram } from '../lib/stats';
import { sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';

/*
 * The coherence phase's two roles. Readers call getOrSet on a set of keys back to back and log every read
 * (when it started and ended, the key, the version it returned); the writer updates the keys one after
 * another (the "database" key first, a plain Redis key, then the cache through its own set) and logs when
 * each write completed. Every time is `now()`: the epoch in ms to a microsecond, one clock for every
 * process of the machine. The reads stay in the reader until the parent sends the writer's log back
 * ('judge'), so only counts cross IPC.
 */

/** Epoch ms, sub-millisecond: the process's time origin (read from the system clock) plus the monotonic clock. */
export const now = () => performance.timeOrigin + performance.now();

export interface CoherenceKeys {
  /** The run's Redis, where the "database" keys live. */
  url: string;
  /** Prefix of the database keys (one per cache key: prefix + index). */
  dbPrefix: string;
  /** How many keys: co:0 ... co:<keys - 1>. */
  keys: number;
}

export interface CoherenceReadRequest extends CoherenceKeys {
  /** Concurrent lanes in this process, each reading back to back. */
  lanes: number;
  /** Epoch ms: the start of each sub-phase, then the end of the last; no read starts outside them. */
  bounds: number[];
}

export interface CoherenceReadResult {
  reads: number;
  /** Reads that rejected (not logged), and lanes still unanswered 10 s after the end. */
  failed: number;
  errors: string[];
  /** Values without a readable version (none expected). */
  unreadable: number;
  /** Hits by tier in each sub-phase, for caches that report it (watchHits). */
  tiers: { memory: number; redis: number }[] | undefined;
  /** Epoch ms at which the warm-up was done; a warm-up that ends after bounds[0] delays the first reads. */
  warmedAt: number;
}

export interface CoherenceWriteRequest extends CoherenceKeys {
  /** One write every this many ms, from bounds[0] to the last bound. */
  everyMs: number;
  bounds: number[];
}

/** Every completed write: its key's index, the version written, and when cache.set resolved (epoch ms). */
export interface WriteLog {
  key: number[];
  version: number[];
  doneAt: number[];
  /** Writes whose set rejected (the database key was written; the cache maybe not). */
  failed: number;
  errors: string[];
}

export interface CoherenceJudgeRequest {
  writes: WriteLog;
  bounds: number[];
  /** A read is stale if it started more than this long after a newer write of its key had completed. */
  staleAfterMs: number;
}

/** One stale read, for whoever investigates: times are ms from the first sub-phase's start. */
export interface StaleExample {
  /** Which reader process (its index), filled in by the parent. */
  reader?: number;
  atMs: number;
  key: number;
  /** The version it returned, and the newest one whose write had completed staleAfterMs before it started. */
  got: number;
  newest: number;
  staleMs: number;
  /** From queuing the read to calling getOrSet (two turns of the event loop), and the call itself. */
  queuedMs: number;
  readMs: number;
  /** Answered from memory within the call itself (herdless-l1 reports a memory hit before the call returns). */
  fromMemory: boolean;
}

export interface SubPhaseJudgement {
  reads: number;
  /** Latency of every getOrSet call (0.01 ms steps). */
  latencyMs: Histogram;
  stale: number;
  /** Staleness of each stale read: its start minus the completion of the first write newer than what it got (10 ms steps). */
  staleMs: Histogram;
  maxStaleMs: number | undefined;
  /** Stale reads answered from memory within the call (see StaleExample), and the first few stale reads. */
  staleFromMemory: number;
  /** Diagnostic: reads that would be stale judged from when getOrSet was called rather than when they were queued. */
  staleAtCall: number;
  examples: StaleExample[];
  /** The first few reads stale only when judged from the call (their staleMs counts from the call). */
  atCallExamples: StaleExample[];
}

export const cacheKey = (i: number) => `co:${i}`;

function versionOf(value: unknown): number {
  const version = (value as { version?: unknown } | null)?.version;
  return typeof version === 'number' ? version : NaN;
}

/** Reads kept in typed arrays: a reader logs hundreds of thousands of them. */
class ReadLog {
  n = 0;
  /** When the lane queued the read (before yielding to I/O), when it called getOrSet, when the answer came. */
  start = new Float64Array(1 << 16);
  called = new Float64Array(1 << 16);
  end = new Float64Array(1 << 16);
  key = new Uint32Array(1 << 16);
  version = new Float64Array(1 << 16);
  memory = new Uint8Array(1 << 16);

  push(start: number, called: number, end: number, key: number, version: number, memory: boolean): void {
    if (this.n === this.start.length) {
      const grow = <T extends Float64Array | Uint32Array | Uint8Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.start = grow(this.start);
      this.called = grow(this.called);
      this.end = grow(this.end);
      this.key = grow(this.key);
      this.version = grow(this.version);
      this.memory = grow(this.memory);
    }
    this.start[this.n] = start;
    this.called[this.n] = called;
    this.end[this.n] = end;
    this.key[this.n] = key;
    this.version[this.n] = version;
    this.memory[this.n] = memory ? 1 : 0;
    this.n++;
  }
}

/** The last reader run's log, kept for 'judge'. */
let held: ReadLog | undefined;

function phaseOf(bounds: number[], at: number): number {
  for (let i = bounds.length - 2; i >= 0; i--) if (at >= bounds[i]) return at < bounds[i + 1] ? i : -1;
  return -1;
}

export async function coherenceRead(cache: CacheUnderTest, request: CoherenceReadRequest): Promise<CoherenceReadResult> {
  const db = createClient({ url: request.url });
  await db.connect();
  held = undefined;
  try {
    return await read(cache, request, db);
  } finally {
    await db.quit();
  }
}

async function read(cache: CacheUnderTest, request: CoherenceReadRequest, db: ReturnType<typeof createClient>): Promise<CoherenceReadResult> {
  const { bounds } = request;
  const end = bounds[bounds.length - 1];
  // On a miss the factory reads the current version from the database key, so a miss recomputes correctly.
  const factories = Array.from({ length: request.keys }, (_, i) => async () => ({ version: Number(await db.get(request.dbPrefix + i)) }));
  // Warm: every key read once, then again once a memory tier's subscription is proven live (herdless-l1
  // keeps only what it read after that), so the run starts with every key held where the cache holds it.
  for (let i = 0; i < request.keys; i++) await cache.getOrSet(cacheKey(i), factories[i]);
  await sleep(150);
  for (let i = 0; i < request.keys; i++) await cache.getOrSet(cacheKey(i), factories[i]);
  const warmedAt = now();
  const result: CoherenceReadResult = { reads: 0, failed: 0, errors: [], unreadable: 0, tiers: undefined, warmedAt };
  const log = new ReadLog();
  const tiers = cache.watchHits ? bounds.slice(1).map(() => ({ memory: 0, redis: 0 })) : undefined;
  // The tier of the latest hit: a hit from memory reported before getOrSet returns was this very call's.
  let latest: 'memory' | 'redis' | undefined;
  const stop = tiers && cache.watchHits!((tier) => {
    latest = tier;
    const phase = phaseOf(bounds, now());
    if (phase >= 0) tiers[phase][tier]++;
  });
  await sleep(Math.max(0, bounds[0] - now()));
  let running = request.lanes;
  // A read starts when its lane queues it; the lane then yields to I/O (two turns of setImmediate: at
  // least one full turn of the event loop, its sockets polled, a memory tier's invalidations among them)
  // before it calls getOrSet, as a server reads its sockets between one request and the next. So a
  // process that was not running (descheduled on a busy machine) is not charged with invalidations that
  // sat unread in its socket meanwhile: the call time is logged too, for the diagnostic staleAtCall.
  const yieldToIo = () => new Promise((resolve) => setImmediate(resolve));
  const lane = async (lane: number) => {
    try {
      for (let k = Math.floor((lane * request.keys) / request.lanes); ; k = k + 1 === request.keys ? 0 : k + 1) {
        const queued = now();
        if (queued >= end) return;
        await yieldToIo();
        await yieldToIo();
        const called = now();
        try {
          latest = undefined;
          const pending = cache.getOrSet(cacheKey(k), factories[k]);
          const fromMemory = latest === 'memory';
          const version = versionOf(await pending);
          if (Number.isNaN(version)) result.unreadable++;
          else log.push(queued, called, now(), k, version, fromMemory);
        } catch (error) {
          result.failed++;
          if (result.errors.length < 3) result.errors.push(String((error as Error)?.message ?? error));
        }
      }
    } finally {
      running--;
    }
  };
  const lanes = Promise.all(Array.from({ length: request.lanes }, (_, i) => lane(i)));
  await Promise.race([lanes, sleep(end - now() + 10_000)]);
  stop?.();
  if (running > 0) {
    result.failed += running;
    result.errors.push(`${running} lanes still waiting for a read 10 s after the end`);
  }
  result.reads = log.n;
  result.tiers = tiers;
  held = log;
  return result;
}

export async function coherenceSeed(cache: CacheUnderTest, request: CoherenceKeys): Promise<WriteLog> {
  if (!cache.set) throw new Error('this strategy cannot write through the cache (no set)');
  const db = createClient({ url: request.url });
  await db.connect();
  try {
    const log: WriteLog = { key: [], version: [], doneAt: [], failed: 0, errors: [] };
    for (let i = 0; i < request.keys; i++) {
      await db.set(request.dbPrefix + i, '0');
      await cache.set(cacheKey(i), { version: 0 });
      log.key.push(i);
      log.version.push(0);
      log.doneAt.push(now());
    }
    return log;
  } finally {
    await db.quit();
  }
}

/** One write every `everyMs`, key after key: version n goes to key (n - 1) mod keys. */
export async function coherenceWrite(cache: CacheUnderTest, request: CoherenceWriteRequest): Promise<WriteLog> {
  if (!cache.set) throw new Error('this strategy cannot write through the cache (no set)');
  const set = cache.set.bind(cache);
  const db = createClient({ url: request.url });
  await db.connect();
  try {
    const log: WriteLog = { key: [], version: [], doneAt: [], failed: 0, errors: [] };
    const end = request.bounds[request.bounds.length - 1];
    let next = request.bounds[0];
    for (let version = 1; ; version++) {
      await sleep(Math.max(0, next - now()));
      if (now() >= end) break;
      const key = (version - 1) % request.keys;
      await db.set(request.dbPrefix + key, String(version));
      try {
        await set(cacheKey(key), { version });
        log.key.push(key);
        log.version.push(version);
        log.doneAt.push(now());
      } catch (error) {
        log.failed++;
        if (log.errors.length < 3) log.errors.push(String((error as Error)?.message ?? error));
      }
      next = Math.max(next + request.everyMs, now());
    }
    return log;
  } finally {
    await db.quit();
  }
}

/**
 * Judges the reads this process logged against the writer's log: a read is stale if it started more than
 * staleAfterMs after a write of its key newer than the version it returned had completed.
 */
export function coherenceJudge(request: CoherenceJudgeRequest): SubPhaseJudgement[] {
  const log = held;
  if (!log) throw new Error('no coherence reads are held in this worker');
  held = undefined;
  const { writes, bounds, staleAfterMs } = request;
  // Per key, its writes in order: versions grow with completion times, since the writer awaits each one.
  const perKey = new Map<number, { version: number[]; doneAt: number[] }>();
  const order = writes.version.map((_, i) => i).sort((a, b) => writes.version[a] - writes.version[b]);
  for (const i of order) {
    let list = perKey.get(writes.key[i]);
    if (!list) perKey.set(writes.key[i], (list = { version: [], doneAt: [] }));
    list.version.push(writes.version[i]);
    list.doneAt.push(writes.doneAt[i]);
  }
  const judged: SubPhaseJudgement[] = bounds.slice(1).map(() => ({ reads: 0, latencyMs: {}, stale: 0, staleMs: {}, maxStaleMs: undefined, staleFromMemory: 0, staleAtCall: 0, examples: [], atCallExamples: [] }));
  const ms = (t: number) => Math.round(t * 1000) / 1000;
  /** Read r, judged from `from` (its queuing or its call), against write `newest` of its key. */
  const example = (r: number, newest: number, from: number): StaleExample => {
    const list = perKey.get(log.key[r])!;
    const version = log.version[r];
    return {
      atMs: ms(log.start[r] - bounds[0]),
      key: log.key[r],
      got: version,
      newest: list.version[newest],
      staleMs: ms(from - list.doneAt[firstAbove(list.version, version)]),
      queuedMs: ms(log.called[r] - log.start[r]),
      readMs: ms(log.end[r] - log.called[r]),
      fromMemory: log.memory[r] === 1,
    };
  };
  for (let r = 0; r < log.n; r++) {
    const started = log.start[r];
    const phase = phaseOf(bounds, started);
    if (phase < 0) continue;
    const into = judged[phase];
    into.reads++;
    record(into.latencyMs, log.end[r] - log.called[r], 0.01);
    const list = perKey.get(log.key[r]);
    if (!list) continue;
    const version = log.version[r];
    // Diagnostic: the same judgement from the moment of the call, which also charges the cache with the
    // time its process was not running between queuing the read and calling.
    const atCall = lastAtOrBefore(list.doneAt, log.called[r] - staleAfterMs);
    const staleAtCall = atCall >= 0 && list.version[atCall] > version;
    if (staleAtCall) into.staleAtCall++;
    // The latest write of the key that had completed staleAfterMs before the read started.
    const last = lastAtOrBefore(list.doneAt, started - staleAfterMs);
    if (last < 0 || list.version[last] <= version) {
      if (staleAtCall && into.atCallExamples.length < 3) into.atCallExamples.push(example(r, atCall, log.called[r]));
      continue;
    }
    // Stale: how long before the read the first write newer than what it got had completed.
    const staleness = started - list.doneAt[firstAbove(list.version, version)];
    into.stale++;
    record(into.staleMs, staleness, 10);
    into.maxStaleMs = Math.max(into.maxStaleMs ?? 0, staleness);
    const fromMemory = log.memory[r] === 1;
    if (fromMemory) into.staleFromMemory++;
    if (into.examples.length < 5) into.examples.push(example(r, last, started));
  }
  return judged;
}

/** Index of the last element <= x in ascending `a`, or -1. */
function lastAtOrBefore(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Index of the first element > x in ascending `a` (a.length if none). */
function firstAbove(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
