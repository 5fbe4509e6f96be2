import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { max, percentile, round } from '../lib/stats';
import { epochNow, sleepUntil } from '../lib/time';
import type { Strategy } from '../strategies/strategy';
import type { CrashCallRequest, CrashCallResult, CrashLeadResult, CrashRun } from '../worker/crash';

/** waiters: processes already waiting on the key when its leader dies; arrives after: one caller calling just after a solo crash. */
export type CrashScenario = 'waiters' | 'arrives after';

export const CRASH_SCENARIOS: readonly CrashScenario[] = ['waiters', 'arrives after'];

/** How long into its function the leader is killed. */
export const KILL_AFTER_MS = 500;
/** waiters: the callers call this long after the leader's function started, so they wait on its lease at the kill. */
export const WAITERS_CALL_AFTER_MS = 200;
/** arrives after: how long after the kill the late caller calls. */
export const ARRIVE_AFTER_MS = 100;
/** The issue's goal: waiters take over within about one holder check (100 ms) of the holder's death, at most 200 ms. */
export const TAKEOVER_GOAL_MS = 200;
/** The quick run's strategies (each crash costs a worker's restart): herdless, the 2014 design and one peer. */
export const QUICK_CRASH_STRATEGIES = ['herdless', '2014-design', 'bentocache'];

export interface CrashRow {
  strategy: string;
  scenario: CrashScenario;
  /** Processes calling besides the leader, and callers in each. */
  processes: number;
  callers: number;
  fnMs: number;
  killAfterMs: number;
  /** When the callers called: ms after the leader's function started (waiters) or after the kill (arrives after). */
  callAtMs: number;
  /** Why the row has no numbers (the strategy could not be opened or run), else undefined. */
  error: string | undefined;
  /** From the SIGKILL to the first and the last answer of a caller. */
  killToFirstMs: number | undefined;
  killToLastMs: number | undefined;
  /**
   * What the crash added to the function's time, where a factory run started after the kill (else
   * undefined: every caller was answered by a run of its own that started before it): waiters, kill → last
   * answer - function; arrives after, call → answer - function.
   */
  takeoverMs: number | undefined;
  /** Each call's own time, call → answer. */
  callP50Ms: number | undefined;
  callMaxMs: number | undefined;
  /** When the first factory run after the kill started, ms after the kill. */
  firstRunAfterKillMs: number | undefined;
  /** Factory runs in the whole fleet (the counter every run INCRs in Redis), the killed leader's included. */
  factoryRuns: number | undefined;
  /** Of those, the runs that started after the kill. */
  runsAfterKill: number | undefined;
  /** Calls that rejected or were unanswered after callTimeoutMs. */
  failed: number;
  /** Distinct values the callers got (one run after the kill, shared: 1). */
  distinctValues: number;
  /** From the SIGKILL to the parent seeing the process exit. */
  exitSeenMs: number | undefined;
  errors: string[];
}

export interface CrashOptions {
  url: string;
  fnMs: number;
  /** waiters: processes waiting on the leader, and callers in each. */
  waiters: number;
  callers: number;
  /** The cache's ttl: far beyond a scenario, so nothing expires but the leases. */
  ttlMs: number;
  callTimeoutMs: number;
}

/**
 * The crash phase: for every strategy, a leader killed with SIGKILL 0.5 s into its function, first with
 * `waiters` processes of `callers` callers waiting on its key (leader workers[waiters]), then alone, a
 * caller of workers[0] arriving 0.1 s after the kill (leader: the next live worker). workers[0], which the
 * one-worker phases use, is never killed. The killed workers are forked anew after each strategy, together,
 * so every strategy and every later phase has a full fleet; a restart compiles TypeScript for seconds, so
 * it runs between strategies, where nothing is measured, rather than after every scenario.
 */
export async function runCrash(admin: AdminClient, workers: Worker[], strategies: readonly Strategy[], options: CrashOptions, log: (line: string) => void): Promise<CrashRow[]> {
  if (workers.length < options.waiters + 1) throw new Error(`the crash phase needs ${options.waiters + 1} workers; the fleet has ${workers.length}`);
  const rows: CrashRow[] = [];
  const respawn = () => Promise.all(workers.filter((w) => !w.alive).map((w) => w.respawn()));
  for (const strategy of strategies) {
    for (const scenario of CRASH_SCENARIOS) {
      const waiters = scenario === 'waiters';
      if (!waiters && !workers.slice(1).some((w) => w.alive)) await respawn();
      const leader = waiters ? workers[options.waiters] : workers.slice(1).find((w) => w.alive)!;
      const callers = waiters ? workers.slice(0, options.waiters) : [workers[0]];
      const row = await runScenario(admin, leader, callers, strategy, scenario, options);
      rows.push(row);
      log(`crash ${strategy.name.padEnd(18)} ${scenario.padEnd(13)} ${row.error ? `could not run: ${row.error}` : rowText(row)}`);
    }
    await respawn();
  }
  return rows;
}

async function runScenario(admin: AdminClient, leader: Worker, callers: Worker[], strategy: Strategy, scenario: CrashScenario, options: CrashOptions): Promise<CrashRow> {
  const waiters = scenario === 'waiters';
  const each = waiters ? options.callers : 1;
  const base = { strategy: strategy.name, scenario, processes: callers.length, callers: each, fnMs: options.fnMs, killAfterMs: KILL_AFTER_MS, callAtMs: waiters ? WAITERS_CALL_AFTER_MS : ARRIVE_AFTER_MS };
  const tag = waiters ? 'waiters' : 'late';
  const run: CrashRun = { url: options.url, counterKey: `bench-crash-runs:${tag}:${strategy.name}`, key: 'hot', fnMs: options.fnMs };
  const open = { url: options.url, namespace: `crash-${tag}-${strategy.name}`, ttlMs: options.ttlMs };
  // The 2014 design's wait counter never expires, and a killed leader leaves its lease: every scenario starts on an empty Redis.
  await admin.flushAll();
  try {
    await Promise.all([leader, ...callers].map((w) => w.request({ type: 'open', strategy: strategy.name, options: open })));
    const lead = await leader.request<CrashLeadResult>({ type: 'crash-lead', ...run });
    const call = (startAt: number) => {
      const request: CrashCallRequest = { ...run, callers: each, startAt, callTimeoutMs: options.callTimeoutMs };
      return Promise.all(callers.map((w) => w.request<CrashCallResult>({ type: 'crash-call', ...request })));
    };
    // Waiters are sent ahead, to call on the workers' own clocks while the lease is held; the late caller
    // is sent after the kill, timed from it.
    const waiting = waiters ? call(lead.factoryStartedAt + WAITERS_CALL_AFTER_MS) : undefined;
    waiting?.catch(() => undefined); // awaited below; this keeps a failure during the kill from being unhandled
    await sleepUntil(lead.factoryStartedAt + KILL_AFTER_MS);
    const killedAt = await leader.crash();
    const exitSeenMs = epochNow() - killedAt;
    const results = await (waiting ?? call(killedAt + ARRIVE_AFTER_MS));
    const factoryRuns = Number((await admin.get(run.counterKey)) ?? 0);
    return summarize(base, options.fnMs, killedAt, exitSeenMs, factoryRuns, results);
  } catch (error) {
    // One strategy that cannot run leaves the others' rows.
    return { ...base, ...EMPTY, error: String((error as Error)?.message ?? error).split('\n')[0] };
  } finally {
    await Promise.all(callers.map((w) => w.request({ type: 'close' }).catch(() => undefined)));
    // A scenario that failed before the kill still has its leader computing, with the lease: killed all the
    // same (runCrash forks it anew).
    if (leader.alive) await leader.crash();
  }
}

const EMPTY = {
  killToFirstMs: undefined,
  killToLastMs: undefined,
  takeoverMs: undefined,
  callP50Ms: undefined,
  callMaxMs: undefined,
  firstRunAfterKillMs: undefined,
  factoryRuns: undefined,
  runsAfterKill: undefined,
  failed: 0,
  distinctValues: 0,
  exitSeenMs: undefined,
  errors: [],
};

function summarize(
  base: Pick<CrashRow, 'strategy' | 'scenario' | 'processes' | 'callers' | 'fnMs' | 'killAfterMs' | 'callAtMs'>,
  fnMs: number,
  killedAt: number,
  exitSeenMs: number,
  factoryRuns: number,
  results: CrashCallResult[],
): CrashRow {
  const answers = results.flatMap((r) => r.answers);
  const sinceKill = answers.map((a) => a.answeredAt - killedAt);
  const calls = answers.map((a) => a.answeredAt - a.calledAt);
  const runs = results.flatMap((r) => r.runsStartedAt);
  const runsAfter = runs.filter((at) => at >= killedAt).map((at) => at - killedAt);
  // The counter holds every run, the killed leader's (1) among them, which no survivor can report.
  const runsAfterKill = factoryRuns - 1 - (runs.length - runsAfter.length);
  const killToLastMs = answers.length ? max(sinceKill) : undefined;
  const callMaxMs = answers.length ? max(calls) : undefined;
  const last = base.scenario === 'waiters' ? killToLastMs : callMaxMs;
  const values = new Set(results.flatMap((r) => Object.keys(r.values)));
  return {
    ...base,
    error: undefined,
    killToFirstMs: answers.length ? round(Math.min(...sinceKill)) : undefined,
    killToLastMs: killToLastMs === undefined ? undefined : round(killToLastMs),
    takeoverMs: runsAfterKill > 0 && last !== undefined ? round(last - fnMs) : undefined,
    callP50Ms: answers.length ? round(percentile(calls, 50)) : undefined,
    callMaxMs: callMaxMs === undefined ? undefined : round(callMaxMs),
    firstRunAfterKillMs: runsAfter.length ? round(Math.min(...runsAfter)) : undefined,
    factoryRuns,
    runsAfterKill,
    failed: results.reduce((n, r) => n + r.failed, 0),
    distinctValues: values.size,
    exitSeenMs: round(exitSeenMs),
    errors: [...new Set(results.flatMap((r) => r.errors))].slice(0, 3),
  };
}

function rowText(r: CrashRow): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${v} ms`);
  return (
    `kill -> first ${ms(r.killToFirstMs)}, last ${ms(r.killToLastMs)}; takeover ${ms(r.takeoverMs)}; call -> answer max ${ms(r.callMaxMs)}; ` +
    `first run after the kill ${ms(r.firstRunAfterKillMs)}; runs ${r.factoryRuns} (${r.runsAfterKill} after the kill); failed ${r.failed}`
  );
}

/** herdless's own row of a scenario, the one the targets judge. */
export function herdlessRow(rows: readonly CrashRow[] | undefined, scenario: CrashScenario): CrashRow | undefined {
  return (rows ?? []).find((r) => r.strategy === 'herdless' && r.scenario === scenario);
}
