import { performance } from 'node:perf_hooks';
import { bounded, sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';

export interface HerdRequest {
  key: string;
  /** How long the factory takes. */
  deltaMs: number;
  callers: number;
  /** Epoch ms at which every worker starts its callers, so the herd arrives at once. */
  startAt: number;
  /** A call still unanswered after this long counts as failed. */
  callTimeoutMs: number;
}

export interface HerdResult {
  factoryRuns: number;
  /** Epoch ms at which this process's first factory run returned, if it ran one. */
  factoryEndAt: number | undefined;
  latenciesMs: number[];
  /** Epoch ms at which each call was answered. */
  answeredAt: number[];
  failed: number;
  errors: string[];
  /** How many callers got each distinct value (type and JSON). */
  values: Record<string, number>;
}

/** `callers` concurrent calls for one cold key; each factory run returns a value no other run returns. */
export async function herd(cache: CacheUnderTest, request: HerdRequest): Promise<HerdResult> {
  const result: HerdResult = { factoryRuns: 0, factoryEndAt: undefined, latenciesMs: [], answeredAt: [], failed: 0, errors: [], values: {} };
  let factoryRuns = 0;
  const factory = async () => {
    const run = ++factoryRuns;
    await sleep(request.deltaMs);
    result.factoryEndAt ??= Date.now();
    return { pid: process.pid, run };
  };
  await sleep(Math.max(0, request.startAt - Date.now()));
  const calls = Array.from({ length: request.callers }, async () => {
    const started = performance.now();
    try {
      const value = await bounded(cache.getOrSet(request.key, factory), request.callTimeoutMs, 'getOrSet');
      const print = `${typeof value}:${JSON.stringify(value)}`;
      result.values[print] = (result.values[print] ?? 0) + 1;
    } catch (error) {
      result.failed++;
      if (result.errors.length < 3) result.errors.push(String((error as Error)?.message ?? error));
    }
    result.latenciesMs.push(performance.now() - started);
    result.answeredAt.push(Date.now());
  });
  await Promise.all(calls);
  result.factoryRuns = factoryRuns;
  return result;
}
