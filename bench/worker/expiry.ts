import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { record, type Histogram } from '../lib/stats';
import { bounded, sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';

export interface ExpiryRequest {
  /** The run's Redis, where factory runs are counted for the whole fleet. */
  url: string;
  /** The key every factory run INCRs. */
  counterKey: string;
  key: string;
  /** Concurrent lanes in this process, each calling back to back. */
  lanes: number;
  /** How long the factory takes. */
  fnMs: number;
  /** The cache's ttl, which staleness is measured against. */
  ttlMs: number;
  /** Epoch ms at which every lane of every worker starts. */
  startAt: number;
  /** How long lanes keep calling (no call starts later than startAt + runMs). */
  runMs: number;
  /** A call still unanswered after this long counts as failed. */
  callTimeoutMs: number;
}

export interface ExpiryResult {
  /** Factory runs in this process (the fleet's total is the counter in Redis). */
  factoryRuns: number;
  /** Each lane's first call: the key is cold, so it fills the cache or waits for the fill. Not counted below. */
  firstFillMs: number[];
  /** Calls after each lane's first. */
  calls: number;
  /** Of those, calls slower than half the factory's time. */
  blocked: number;
  /** Latency of those calls, ms (0.01 ms steps). */
  latencyMs: Histogram;
  /** Of those answered with a value, answered at - computedAt - ttl, ms (1 ms steps); <= 0 is fresh. */
  staleMs: Histogram;
  /** Values without a readable computedAt (none expected). */
  unreadable: number;
  /** Calls that rejected or timed out, first calls included. */
  failed: number;
  errors: string[];
  /** Factory runs still going when the lanes stopped that had not finished 5 s later. */
  unfinishedRuns: number;
}

/**
 * `lanes` calls back to back on one hot key for `runMs`, across many ttl windows. The factory sleeps
 * `fnMs`, INCRs the fleet's counter and returns when it computed, so every served value's age is known.
 */
export async function expiry(cache: CacheUnderTest, request: ExpiryRequest): Promise<ExpiryResult> {
  const counter = createClient({ url: request.url });
  await counter.connect();
  try {
    return await run(cache, request, (key) => counter.incr(key));
  } finally {
    await counter.quit();
  }
}

async function run(cache: CacheUnderTest, request: ExpiryRequest, incr: (key: string) => Promise<number>): Promise<ExpiryResult> {
  const result: ExpiryResult = { factoryRuns: 0, firstFillMs: [], calls: 0, blocked: 0, latencyMs: {}, staleMs: {}, unreadable: 0, failed: 0, errors: [], unfinishedRuns: 0 };
  let running = 0;
  const factory = async () => {
    const n = ++result.factoryRuns;
    running++;
    try {
      const counted = incr(request.counterKey);
      counted.catch(() => undefined); // awaited below; this keeps an early failure from being unhandled
      await sleep(request.fnMs);
      await counted;
      return { computedAt: Date.now(), pid: process.pid, run: n };
    } finally {
      running--;
    }
  };
  const until = request.startAt + request.runMs;
  await sleep(Math.max(0, request.startAt - Date.now()));
  const lane = async () => {
    for (let first = true; Date.now() < until; first = false) {
      const started = performance.now();
      let value: unknown;
      let answered = false;
      try {
        value = await bounded(cache.getOrSet(request.key, factory), request.callTimeoutMs, 'getOrSet');
        answered = true;
      } catch (error) {
        result.failed++;
        if (result.errors.length < 3) result.errors.push(String((error as Error)?.message ?? error));
      }
      const servedAt = Date.now();
      const ms = performance.now() - started;
      if (!answered) {
        // A cache that rejects at once must not spin this process's event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (first) {
        result.firstFillMs.push(ms);
        continue;
      }
      result.calls++;
      if (ms > request.fnMs / 2) result.blocked++;
      record(result.latencyMs, ms, 0.01);
      if (!answered) continue;
      const computedAt = computedAtOf(value);
      if (computedAt === undefined) result.unreadable++;
      else record(result.staleMs, servedAt - computedAt - request.ttlMs, 1);
    }
  };
  await Promise.all(Array.from({ length: request.lanes }, lane));
  // Refreshes the last calls started in the background still count (and still INCR): wait for them.
  for (const giveUp = Date.now() + 5000; running > 0 && Date.now() < giveUp; ) await sleep(10);
  result.unfinishedRuns = running;
  return result;
}

/** The factory's computedAt; the 2014 design hands readers the stored JSON text, so that is parsed. */
function computedAtOf(value: unknown): number | undefined {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  const at = (v as { computedAt?: unknown } | null)?.computedAt;
  return typeof at === 'number' ? at : undefined;
}
