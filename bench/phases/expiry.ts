import type { Worker } from '../lib/fleet';
import { commandCounts, commandsBetween, type AdminClient } from '../lib/redis';
import { count, histogramMax, histogramPercentile, max, merge, round, type Histogram } from '../lib/stats';
import type { Strategy } from '../strategies/strategy';
import type { ExpiryRequest, ExpiryResult } from '../worker/expiry';

export interface ExpiryRow {
  strategy: string;
  /** How the strategy was set up in this phase (its stale-while-revalidate mode, where it has one). */
  setup: string;
  processes: number;
  lanes: number;
  ttlMs: number;
  fnMs: number;
  runMs: number;
  graceMs: number;
  /** The fewest runs to compare with: ceil(runMs / (ttlMs + fnMs)), see minimumRuns(). */
  minimumRuns: number;
  /** Why the row has no numbers (the strategy could not be opened or run), else undefined. */
  error: string | undefined;
  /** Factory runs in the whole fleet (the counter every run INCRs in Redis). */
  factoryRuns: number | undefined;
  /** Factory runs in each process, as the processes counted them. */
  runsPerProcess: number[];
  /** Calls after each lane's first (which found the key cold), the ones every figure below is over. */
  calls: number;
  /** Calls slower than half the factory's time. */
  blocked: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  p999Ms: number | undefined;
  maxMs: number | undefined;
  /** Latency of the lanes' first calls (the first fill), at its worst. */
  firstFillMaxMs: number | undefined;
  /** Staleness of each served value: answered at - computedAt - ttl; <= 0 is fresh. */
  staleP99Ms: number | undefined;
  staleMaxMs: number | undefined;
  /** Calls answered with a value past its ttl (staleness > 0). */
  staleCalls: number;
  /** Calls that rejected or timed out, first calls included. */
  failed: number;
  /** Redis commands per call, first calls included (INFO commandstats; the benchmark's own INCRs and QUITs left out). */
  commandsPerCall: number | undefined;
  commands: Record<string, number>;
  errors: string[];
}

export interface ExpiryOptions {
  url: string;
  lanes: number;
  ttlMs: number;
  fnMs: number;
  runMs: number;
  /** Grace given to strategies that can serve a stale value while refreshing (OpenOptions.freshness). */
  graceMs: number;
  callTimeoutMs: number;
}

/**
 * The fewest factory runs a cache can make over the run and still never hand out a value more than one
 * factory time past its ttl: the first fill, then one refresh per expiry, and a value computed at t
 * expires at t + ttl while its successor needs the factory's time, so runs start ttl + fn apart.
 */
export function minimumRuns(runMs: number, ttlMs: number, fnMs: number): number {
  return Math.ceil(runMs / (ttlMs + fnMs));
}

/** P workers x C lanes on one hot key across many ttl windows, every strategy in turn. */
export async function runExpiry(admin: AdminClient, workers: Worker[], strategies: readonly Strategy[], options: ExpiryOptions, log: (line: string) => void): Promise<ExpiryRow[]> {
  const rows: ExpiryRow[] = [];
  for (const strategy of strategies) {
    await admin.flushAll();
    const namespace = `expiry-${strategy.name}`;
    const counterKey = `bench-expiry-runs:${strategy.name}`;
    const ttlMs = strategy.expiryTtlMs ?? options.ttlMs;
    const open = { url: options.url, namespace, ttlMs, freshness: { graceMs: options.graceMs } };
    let row: ExpiryRow;
    try {
      await Promise.all(workers.map((w) => w.request({ type: 'open', strategy: strategy.name, options: open })));
      const before = await commandCounts(admin);
      const startAt = Date.now() + 250;
      const request: ExpiryRequest = { url: options.url, counterKey, key: 'hot', lanes: options.lanes, fnMs: options.fnMs, ttlMs, startAt, runMs: options.runMs, callTimeoutMs: options.callTimeoutMs };
      const results = await Promise.all(workers.map((w) => w.request<ExpiryResult>({ type: 'expiry', ...request })));
      const commands = commandsBetween(before, await commandCounts(admin));
      const fleetRuns = Number((await admin.get(counterKey)) ?? 0);
      // The benchmark's own commands are not the cache's: an INCR per factory run, and the QUIT of each
      // worker's counter connection.
      for (const [name, own] of [['incr', fleetRuns], ['quit', workers.length]] as const) {
        const left = (commands.get(name) ?? 0) - own;
        if (left > 0) commands.set(name, left);
        else commands.delete(name);
      }
      row = summarize(strategy, workers.length, options, fleetRuns, results, commands);
    } catch (error) {
      // One strategy that cannot run (an option its version does not know yet) leaves the others' rows.
      row = failedRow(strategy, workers.length, options, String((error as Error)?.message ?? error).split('\n')[0]);
    } finally {
      await Promise.all(workers.map((w) => w.request({ type: 'close' }).catch(() => undefined)));
    }
    rows.push(row);
    log(
      row.error
        ? `expiry ${strategy.name.padEnd(18)} could not run: ${row.error}`
        : `expiry ${strategy.name.padEnd(18)} runs ${String(row.factoryRuns).padStart(4)} (minimum ${row.minimumRuns}), blocked ${row.blocked} of ${row.calls}, ` +
            `p99 ${row.p99Ms} ms, p999 ${row.p999Ms} ms, max ${row.maxMs} ms, stale max ${row.staleMaxMs} ms, failed ${row.failed}`,
    );
  }
  return rows;
}

function base(strategy: Strategy, processes: number, options: ExpiryOptions) {
  return {
    strategy: strategy.name,
    setup: strategy.freshSetup ?? strategy.setup,
    processes,
    lanes: options.lanes,
    ttlMs: options.ttlMs,
    fnMs: options.fnMs,
    runMs: options.runMs,
    graceMs: options.graceMs,
    minimumRuns: minimumRuns(options.runMs, options.ttlMs, options.fnMs),
  };
}

function summarize(strategy: Strategy, processes: number, options: ExpiryOptions, fleetRuns: number, results: ExpiryResult[], commands: Map<string, number>): ExpiryRow {
  const latency: Histogram = merge(results.map((r) => r.latencyMs));
  const stale: Histogram = merge(results.map((r) => r.staleMs));
  const staleCalls = Object.entries(stale).reduce((n, [ms, calls]) => (Number(ms) > 0 ? n + calls : n), 0);
  const firstFill = results.flatMap((r) => r.firstFillMs);
  const unreadable = results.reduce((n, r) => n + r.unreadable, 0);
  const unfinished = results.reduce((n, r) => n + r.unfinishedRuns, 0);
  const errors = [...new Set(results.flatMap((r) => r.errors))];
  if (unreadable) errors.push(`${unreadable} values had no computedAt`);
  if (unfinished) errors.push(`${unfinished} factory runs had not finished 5 s after the run`);
  const measured = count(latency) > 0;
  const calls = results.reduce((n, r) => n + r.calls, 0);
  const total = [...commands.values()].reduce((a, b) => a + b, 0);
  return {
    ...base(strategy, processes, options),
    error: undefined,
    factoryRuns: fleetRuns,
    runsPerProcess: results.map((r) => r.factoryRuns),
    calls,
    blocked: results.reduce((n, r) => n + r.blocked, 0),
    p50Ms: measured ? round(histogramPercentile(latency, 50), 2) : undefined,
    p99Ms: measured ? round(histogramPercentile(latency, 99), 2) : undefined,
    p999Ms: measured ? round(histogramPercentile(latency, 99.9), 2) : undefined,
    maxMs: measured ? round(histogramMax(latency), 2) : undefined,
    firstFillMaxMs: firstFill.length ? round(max(firstFill)) : undefined,
    // A baseline opened with a ttl of its own (herdless-steady) is never near its expiry: no staleness to show.
    staleP99Ms: count(stale) && !strategy.expiryTtlMs ? histogramPercentile(stale, 99) : undefined,
    staleMaxMs: count(stale) && !strategy.expiryTtlMs ? histogramMax(stale) : undefined,
    staleCalls,
    failed: results.reduce((n, r) => n + r.failed, 0),
    commandsPerCall: round(total / (calls + firstFill.length), 2),
    commands: Object.fromEntries([...commands].sort((a, b) => b[1] - a[1])),
    errors: errors.slice(0, 3),
  };
}

function failedRow(strategy: Strategy, processes: number, options: ExpiryOptions, error: string): ExpiryRow {
  return {
    ...base(strategy, processes, options),
    error,
    factoryRuns: undefined,
    runsPerProcess: [],
    calls: 0,
    blocked: 0,
    p50Ms: undefined,
    p99Ms: undefined,
    p999Ms: undefined,
    maxMs: undefined,
    firstFillMaxMs: undefined,
    staleP99Ms: undefined,
    staleMaxMs: undefined,
    staleCalls: 0,
    failed: 0,
    commandsPerCall: undefined,
    commands: {},
    errors: [],
  };
}
