import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { percentile, round } from '../lib/stats';
import type { Strategy } from '../strategies/strategy';
import type { MissRequest, MissResult } from '../worker/miss';

export interface MissRow {
  strategy: string;
  roundTrips: number;
  /** Round trips beyond the factory, above the minimum (GET + SET). */
  extraRoundTrips: number;
  scriptCommands: number;
  commands: Record<string, number>;
  p50Us: number;
  p99Us: number;
  /** Median wall time against the minimum's. */
  vsMinimum: number;
}

export const MINIMUM = 'minimum (GET + SET)';

/**
 * A leader's miss (factory of 0 ms): round trips and wall time, each strategy measured sample by sample
 * alternately with the minimum (GET + SET on node-redis), so the ratio holds even on a busy machine.
 */
export async function runMiss(admin: AdminClient, worker: Worker, url: string, strategies: readonly Strategy[], request: Omit<MissRequest, 'url'>, log: (line: string) => void): Promise<MissRow[]> {
  const rows: MissRow[] = [];
  const minimumTimes: number[] = [];
  let minimumTrips = 2;
  for (const strategy of strategies) {
    await admin.flushAll();
    await worker.request({ type: 'open', strategy: strategy.name, options: { url, namespace: `miss-${strategy.name}`, ttlMs: 600_000 } });
    const result = await worker.request<{ cache: MissResult; minimum: MissResult }>({ type: 'miss', url, ...request });
    await worker.request({ type: 'close' });
    minimumTimes.push(...result.minimum.latenciesUs);
    minimumTrips = result.minimum.roundTrips;
    rows.push(row(strategy.name, result.cache, minimumTrips, percentile(result.minimum.latenciesUs, 50)));
  }
  const minimum: MissResult = { latenciesUs: minimumTimes, roundTrips: minimumTrips, scriptCommands: 0, commands: { get: 1, set: 1 } };
  rows.unshift(row(MINIMUM, minimum, minimumTrips, percentile(minimumTimes, 50)));
  for (const r of rows) log(`miss  ${r.strategy.padEnd(20)} ${r.roundTrips} round trips (+${r.scriptCommands} in scripts), p50 ${r.p50Us} us = ${r.vsMinimum}x minimum`);
  return rows;
}

function row(strategy: string, result: MissResult, minimumTrips: number, minimumP50: number): MissRow {
  const p50 = percentile(result.latenciesUs, 50);
  return {
    strategy,
    roundTrips: round(result.roundTrips, 2),
    extraRoundTrips: round(result.roundTrips - minimumTrips, 2),
    scriptCommands: round(result.scriptCommands, 2),
    commands: result.commands,
    p50Us: round(p50),
    p99Us: round(percentile(result.latenciesUs, 99)),
    vsMinimum: round(p50 / minimumP50, 2),
  };
}
