import { createClient } from 'redis';
import { bounded, epochNow, sleep, sleepUntil } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';

/*
 * The crash phase's two roles. The leader calls getOrSet on a cold key and answers the parent as soon as
 * its factory starts, its call still running: the parent then kills this process with SIGKILL in the middle
 * of the function, as a crash would. Callers (in other processes) call the same key and report when each
 * call was answered. Every factory run INCRs a counter in Redis before it sleeps, so the fleet's runs are
 * counted, the killed leader's included; every time is epochNow(), one clock for every process.
 */

export interface CrashRun {
  /** The run's Redis, where factory runs are counted for the whole fleet. */
  url: string;
  /** The key every factory run INCRs. */
  counterKey: string;
  key: string;
  /** How long the factory takes. */
  fnMs: number;
}

export interface CrashLeadResult {
  pid: number;
  /** Epoch ms at which the leader's factory started. */
  factoryStartedAt: number;
}

export interface CrashCallRequest extends CrashRun {
  callers: number;
  /** Epoch ms at which every caller of this process calls. */
  startAt: number;
  /** A call still unanswered after this long counts as failed. */
  callTimeoutMs: number;
}

export interface CrashCallResult {
  /** Epoch ms of each answered call and of its answer (calls that failed are counted below instead). */
  answers: { calledAt: number; answeredAt: number }[];
  failed: number;
  errors: string[];
  /** Epoch ms at which each factory run of this process started. */
  runsStartedAt: number[];
  /** How many callers got each distinct value (type and JSON). */
  values: Record<string, number>;
}

/**
 * Leads `key`: resolves once the factory has started (and its run is counted), leaving the call running,
 * so the parent can kill this process mid-function. Rejects if the call ends without running the factory.
 */
export async function crashLead(cache: CacheUnderTest, request: CrashRun): Promise<CrashLeadResult> {
  // Never closed: this process is killed while its call runs, connection and all.
  const counter = createClient({ url: request.url });
  await counter.connect();
  return new Promise<CrashLeadResult>((resolve, reject) => {
    const factory = async () => {
      const factoryStartedAt = epochNow();
      await counter.incr(request.counterKey);
      resolve({ pid: process.pid, factoryStartedAt });
      await sleep(request.fnMs);
      return { pid: process.pid, run: 1 };
    };
    cache.getOrSet(request.key, factory).then(
      () => reject(new Error('the leader was answered without running its factory')),
      (error) => reject(error instanceof Error ? error : new Error(String(error))),
    );
  });
}

/** `callers` concurrent calls of `key` at `startAt`; each factory run returns a value no other run returns. */
export async function crashCall(cache: CacheUnderTest, request: CrashCallRequest): Promise<CrashCallResult> {
  const counter = createClient({ url: request.url });
  await counter.connect();
  const result: CrashCallResult = { answers: [], failed: 0, errors: [], runsStartedAt: [], values: {} };
  const factory = async () => {
    result.runsStartedAt.push(epochNow());
    const run = result.runsStartedAt.length;
    await counter.incr(request.counterKey);
    await sleep(request.fnMs);
    return { pid: process.pid, run };
  };
  try {
    await sleepUntil(request.startAt);
    await Promise.all(
      Array.from({ length: request.callers }, async () => {
        const calledAt = epochNow();
        try {
          const value = await bounded(cache.getOrSet(request.key, factory), request.callTimeoutMs, 'getOrSet');
          result.answers.push({ calledAt, answeredAt: epochNow() });
          const print = `${typeof value}:${JSON.stringify(value)}`;
          result.values[print] = (result.values[print] ?? 0) + 1;
        } catch (error) {
          result.failed++;
          if (result.errors.length < 3) result.errors.push(String((error as Error)?.message ?? error));
        }
      }),
    );
    return result;
  } finally {
    await counter.quit();
  }
}
