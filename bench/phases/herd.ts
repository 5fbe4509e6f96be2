import type { RedisTarget } from '../lib/redis';
import type { Worker } from '../lib/fleet';
import { max, percentile, round } from '../lib/stats';
import { sleep } from '../lib/time';
import type { Strategy } from '../strategies/strategy';
import type { HerdResult } from '../worker/herd';

export interface HerdRow {
  strategy: string;
  deltaMs: number;
  processes: number;
  callers: number;
  calls: number;
  repeats: number;
  /** The most factory runs in any repeat; every repeat's count follows. */
  factoryRuns: number;
  factoryRunsEach: number[];
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** What the herd added to the factory's own time, at p99. */
  p99OverDeltaMs: number;
  /**
   * Hand-off: how long after the first factory run of a herd returned the callers of processes that ran
   * no factory were answered (p50 / p99); undefined when every process ran the factory itself.
   */
  handoffP50Ms: number | undefined;
  handoffP99Ms: number | undefined;
  commandsPerCall: number;
  commands: Record<string, number>;
  distinctValues: number;
  equalValues: boolean;
  errors: string[];
}

export interface HerdOptions {
  /** The standalone server, and the cluster for strategies whose topology is 'cluster'. */
  redis: RedisTarget;
  cluster: RedisTarget | undefined;
  deltasMs: number[];
  callers: number;
  ttlMs: number;
  callTimeoutMs: number;
  /** Herds per row; latencies pool over them, factory runs report the worst. */
  repeats: number;
}

/** P workers x C callers on one cold key, for every strategy and factory time. */
export async function runHerd(workers: Worker[], strategies: readonly Strategy[], options: HerdOptions, log: (line: string) => void): Promise<HerdRow[]> {
  const rows: HerdRow[] = [];
  for (const deltaMs of options.deltasMs) {
    for (const strategy of strategies) {
      const redis = strategy.topology === 'cluster' ? options.cluster : options.redis;
      if (!redis) throw new Error(`${strategy.name} runs on Redis Cluster, and no cluster was started`);
      const results: HerdResult[][] = [];
      const commands = new Map<string, number>();
      for (let repeat = 0; repeat < options.repeats; repeat++) {
        await redis.flushAll();
        const namespace = `herd-${deltaMs}-${strategy.name}-${repeat}`;
        const open = { url: redis.url, rootNodes: redis.rootNodes, namespace, ttlMs: options.ttlMs };
        await Promise.all(workers.map((w) => w.request({ type: 'open', strategy: strategy.name, options: open })));
        const before = await redis.commandCounts();
        const startAt = Date.now() + 250;
        results.push(
          await Promise.all(
            workers.map((w) => w.request<HerdResult>({ type: 'herd', key: 'hot', deltaMs, callers: options.callers, startAt, callTimeoutMs: options.callTimeoutMs })),
          ),
        );
        // Work a call leaves behind (unsubscribing, background writes) belongs to its cost.
        await sleep(100);
        for (const [name, calls] of redis.commandsBetween(before, await redis.commandCounts())) commands.set(name, (commands.get(name) ?? 0) + calls);
        await Promise.all(workers.map((w) => w.request({ type: 'close' })));
      }
      const row = summarize(strategy.name, deltaMs, workers.length, options.callers, results, commands);
      rows.push(row);
      log(
        `herd  ${strategy.name.padEnd(18)} delta ${String(deltaMs).padStart(4)} ms: runs ${String(row.factoryRuns).padStart(3)}, ` +
          `failed ${row.failed}, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.commandsPerCall} cmds/call, equal ${row.equalValues ? 'yes' : 'no'}`,
      );
    }
  }
  return rows;
}

/** One row from every repeat: latencies pooled, factory runs and distinct values at their worst. */
function summarize(strategy: string, deltaMs: number, processes: number, callers: number, repeats: HerdResult[][], commands: Map<string, number>): HerdRow {
  const all = repeats.flat();
  const latencies = all.flatMap((r) => r.latenciesMs);
  const distinct = repeats.map((results) => {
    const values = new Set<string>();
    for (const r of results) for (const print of Object.keys(r.values)) values.add(print);
    return values.size;
  });
  const failed = all.reduce((n, r) => n + r.failed, 0);
  const calls = processes * callers;
  const total = [...commands.values()].reduce((a, b) => a + b, 0);
  const p99 = percentile(latencies, 99);
  const runs = repeats.map((results) => results.reduce((n, r) => n + r.factoryRuns, 0));
  const handoffs = repeats.flatMap((results) => {
    const ends = results.map((r) => r.factoryEndAt).filter((at): at is number => at !== undefined);
    if (ends.length === 0) return [];
    const first = Math.min(...ends);
    return results.filter((r) => r.factoryRuns === 0).flatMap((r) => r.answeredAt.map((at) => at - first));
  });
  return {
    strategy,
    deltaMs,
    processes,
    callers,
    calls,
    repeats: repeats.length,
    factoryRuns: Math.max(...runs),
    factoryRunsEach: runs,
    failed,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(p99),
    maxMs: round(max(latencies)),
    p99OverDeltaMs: round(p99 - deltaMs),
    handoffP50Ms: handoffs.length ? round(percentile(handoffs, 50)) : undefined,
    handoffP99Ms: handoffs.length ? round(percentile(handoffs, 99)) : undefined,
    commandsPerCall: round(total / (calls * repeats.length), 2),
    commands: Object.fromEntries([...commands].sort((a, b) => b[1] - a[1])),
    distinctValues: Math.max(...distinct),
    equalValues: distinct.every((d) => d === 1) && failed === 0,
    errors: [...new Set(all.flatMap((r) => r.errors))].slice(0, 3),
  };
}
