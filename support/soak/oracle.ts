import { callBoundMs, COMMAND_MS, DELIVERY_MS, MARGIN_MS, RECOVERY_MS, UNAWARE_MS, writeBoundMs } from './bounds';
import { FAILURE, PROFILES, SETTINGS, type CallLog, type Entry, type FaultLog, type HeapLog, type ProblemLog, type RunLog, type WriteLog } from './log';

/*
 * The soak's oracle: reads a run's log (log.ts) and judges it. Each invariant is a function of the log
 * alone, returning its violations; the run passes when every list is empty.
 *
 * - bounded:   no call or write took longer than its bound (bounds.ts); none hung.
 * - answered:  no getOrSet rejected, but with the error of a run of its key that threw while the call
 *              waited (herdless answers, uncached if it must); a write failed only while a fault could
 *              explain it.
 * - own key:   every value served is its own key's.
 * - fresh:     no value served had been invalidated (deleted, overwritten, its tag or group invalidated,
 *              cleared) by a write that resolved more than DELIVERY_MS before the call started; while a
 *              fault kept the caller from knowing (a silent subscription, Redis unreachable: README, memory
 *              tier 3 and 6), by UNAWARE_MS after the fault.
 * - runs:      every function run is explained: it is a fill (the first, after its value expired, after an
 *              invalidation of its key), or a takeover after a kill, a fault or an invalidation, or an
 *              uncached or timed-out answer during a fault. Two runs of a key holding the lease at once (a
 *              herd) are explained only by a fault or an invalidation between them.
 * - no crash:  no unhandled rejection, uncaught exception or unexpected exit in any worker.
 * - heap:      each worker's heap at the end is within HEAP_MARGIN of its heap once warmed up (after gc).
 * - resumed:   after the last fault's effects, every worker answers from the cache again (memory hits where
 *              the tier is on) and nothing is answered uncached.
 */

/** A worker's heap may grow by this much over a run (lru-cache bounds the tier; the rest is V8's own slack). */
export const HEAP_MARGIN = { bytes: 8 * 1024 * 1024, ratio: 0.25 };

export const INVARIANTS = ['bounded', 'answered', 'own key', 'fresh', 'runs', 'no crash', 'heap', 'resumed'] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface Verdict {
  violations: Record<Invariant, string[]>;
  /** How the function runs were explained, by reason. */
  runs: Record<string, number>;
  calls: Record<string, number>;
  writes: Record<string, number>;
  faults: Record<string, number>;
  heap: HeapLog[];
  /** When the last fault's effects were over, and how many calls came after. */
  tail: { from: number; calls: number };
}

const LEASED = new Set(['lead', 'fence', 'refresh', 'takeover']);
const UNLEASED = new Set(['uncached', 'timeout']);

export function judge(entries: Entry[], expectedExits: ProblemLog[] = []): Verdict {
  const calls = entries.filter((e): e is CallLog => e.type === 'call');
  const runs = entries.filter((e): e is RunLog => e.type === 'run');
  const writes = entries.filter((e): e is WriteLog => e.type === 'write');
  const faults = entries.filter((e): e is FaultLog => e.type === 'fault');
  const problems = entries.filter((e): e is ProblemLog => e.type === 'problem');
  const heaps = entries.filter((e): e is HeapLog => e.type === 'heap');
  const violations = Object.fromEntries(INVARIANTS.map((name) => [name, [] as string[]])) as Record<Invariant, string[]>;
  const flag = (invariant: Invariant, what: string, detail: unknown) => violations[invariant].push(`${what}: ${JSON.stringify(detail)}`);

  /** Some fault (any target, a kill included) whose effects may still last at `at`. */
  const faultNear = (from: number, to: number) => faults.some((f) => f.start <= to && from <= f.end + RECOVERY_MS);
  /** A fault that could keep `worker` from knowing of an invalidation: one on Redis, or on its own link, or its own restart. */
  const blinding = (worker: number, at: number) => faults.filter((f) => (f.worker === undefined || f.worker === worker) && f.start <= at && at <= f.end + UNAWARE_MS);
  const writesOf = new Map<string, WriteLog[]>();
  for (const write of writes) for (const key of write.keys) (writesOf.get(key) ?? writesOf.set(key, []).get(key)!).push(write);
  // By when they were sent: a long run logs millions of calls, and each looks only at the writes of its window.
  for (const list of writesOf.values()) list.sort((a, b) => a.sent - b.sent);
  /** The writes of `key` sent in [from, to]. */
  const sentBetween = (key: string, from: number, to: number): WriteLog[] => {
    const list = writesOf.get(key) ?? [];
    let low = 0;
    for (let high = list.length; low < high; ) {
      const middle = (low + high) >> 1;
      if (list[middle].sent < from) low = middle + 1;
      else high = middle;
    }
    const found: WriteLog[] = [];
    for (let i = low; i < list.length && list[i].sent <= to; i++) found.push(list[i]);
    return found;
  };
  const madeAt = new Map(runs.map((run) => [`${run.key}#${run.run}`, run.start]));
  const setOf = new Map<string, WriteLog>();
  for (const write of writes) if (write.kind === 'set') setOf.set(`${write.keys[0]}#${write.floors[0]}`, write);
  const floorOf = (write: WriteLog, key: string) => write.floors[write.keys.indexOf(key)];

  // A rejection is an answer when it is the error of a run of the call's key that threw: shared with
  // every caller of that run, in any process, and only with callers that came while it held the lease
  // (the run is logged as it throws; its lease ends a round trip later).
  const thrown = new Map(runs.filter((run) => run.threw).map((run) => [`${run.key}#${run.run}`, run]));
  const failedRun = (call: CallLog) => {
    const [, number, key] = FAILURE.exec(call.error ?? '') ?? [];
    const run = thrown.get(`${key}#${number}`);
    return key === call.key && run !== undefined && call.start <= run.end + COMMAND_MS && call.end >= run.start;
  };

  // bounded, answered, own key
  const callBound = callBoundMs();
  const writeBound = writeBoundMs();
  for (const call of calls) {
    if (call.hung || call.end - call.start > callBound) flag('bounded', 'call past its bound', { ...call, ms: call.end - call.start, bound: callBound });
    else if (!call.ok) {
      if (!failedRun(call)) flag('answered', 'getOrSet rejected', call);
    } else if (call.value?.key !== call.key) flag('own key', "another key's value", call);
  }
  for (const write of writes) {
    if (write.error === 'hung' || write.resolved - write.sent > writeBound) flag('bounded', 'write past its bound', { ...write, keys: write.keys.length });
    else if (!write.ok && !faultNear(write.sent, write.resolved)) flag('answered', 'a write failed with no fault to explain it', { ...write, keys: write.keys.length });
  }

  // fresh
  for (const call of calls) {
    const value = call.value;
    if (!call.ok || value === undefined || value.key !== call.key) continue;
    // A set that failed may still have landed, at any time (a partition delivers what it held): its value is any write's peer.
    const own = value.kind === 'set' ? setOf.get(`${value.key}#${value.run}`) : undefined;
    if (value.kind === 'set' && own !== undefined && !own.ok) continue;
    const replaced = (write: WriteLog) => {
      if (!write.ok || floorOf(write, value.key) <= value.run) return false;
      // Two writes in flight together land in either order: a set is replaced only by a write sent once it had resolved.
      return value.kind === 'run' || own === undefined || write.sent > own.resolved;
    };
    // Only a write whose floor was taken after the value's tick can have replaced it: sent after the
    // value was made (less a second, for a floor taken just before its write was sent on a loaded machine).
    const made = (value.kind === 'set' ? own?.sent : madeAt.get(`${value.key}#${value.run}`)) ?? 0;
    const stale = sentBetween(value.key, made - 1_000, call.start).find((write) => {
      if (write.resolved >= call.start - DELIVERY_MS || !replaced(write)) return false;
      // A fault kept the caller from knowing: excused while its effects last.
      return !blinding(call.worker, call.start).some((f) => write.resolved <= f.end + UNAWARE_MS);
    });
    if (stale) flag('fresh', 'served a value invalidated before the call started', { call, write: { ...stale, keys: stale.keys.length, floor: floorOf(stale, value.key) } });
  }

  // runs
  const byId = new Map(calls.map((call) => [call.id, call]));
  const reasons: Record<string, number> = {};
  const explain = (reason: string) => (reasons[reason] = (reasons[reason] ?? 0) + 1);
  const invalidatedBetween = (key: string, from: number, to: number) => sentBetween(key, from - writeBound - MARGIN_MS, to).some((w) => w.resolved >= from);
  const leased = new Map<string, { run: RunLog; call: CallLog | undefined }[]>();
  const killed = (run: RunLog) => faults.some((f) => f.name === 'kill' && f.worker === run.worker && f.start >= run.start - MARGIN_MS && f.start <= run.end + 1_000);
  for (const run of runs) {
    const call = byId.get(run.call);
    if (call === undefined) {
      // Its call was in flight when its worker was killed, or was given up on as hung (flagged above).
      if (killed(run)) explain('lost with its killed worker');
      else if (!calls.some((c) => c.hung && c.id === run.call)) flag('runs', 'a run of no call', run);
      continue;
    }
    const outcome = run.start >= call.end ? 'refresh' : call.outcome ?? '';
    if (UNLEASED.has(outcome)) {
      if (faultNear(run.start, run.start)) explain(`${outcome} during a fault`);
      else flag('runs', `answered ${outcome} with no fault to explain it`, { run, call });
      continue;
    }
    if (!LEASED.has(outcome)) {
      flag('runs', `a run by a call answered '${outcome}'`, { run, call });
      continue;
    }
    if (outcome === 'takeover') {
      const from = run.start - SETTINGS.leaseTtlMs - SETTINGS.waitTimeoutMs - MARGIN_MS;
      if (faultNear(from, run.start)) explain('takeover after a kill or fault');
      else if (invalidatedBetween(run.key, from, run.start)) explain('takeover after an invalidation');
      else flag('runs', 'a takeover with no kill, fault or invalidation to explain it', { run, call });
    }
    (leased.get(run.key) ?? leased.set(run.key, []).get(run.key)!).push({ run, call });
  }
  for (const [key, list] of leased) {
    list.sort((a, b) => a.run.start - b.run.start);
    explain('first fill');
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1];
      const { run } = list[i];
      if (run.start >= previous.run.end + SETTINGS.ttlMs - 50) explain('after expiry');
      else if (previous.call?.outcome === 'fence' && previous.run.start < previous.call.end) explain('after a fenced run');
      else if (previous.run.threw) explain('after a failed run');
      // An invalidation just before the previous run started counts too: its stamp takes the versions its
      // process knows, which may not have heard of it yet, and then its value is refused by those that have.
      else if (invalidatedBetween(key, previous.run.start - DELIVERY_MS, run.start)) explain('after an invalidation');
      else if (faultNear(previous.run.start - RECOVERY_MS, run.start)) explain('after a fault (data lost or lease cut off)');
      else flag('runs', run.start < previous.run.end ? 'two runs held the lease at once (a herd)' : 'a fill before its value expired, with nothing to explain it', { previous: previous.run, run, call: list[i].call });
    }
  }

  // no crash
  for (const problem of problems) if (!expectedExits.some((e) => e.worker === problem.worker && e.at === problem.at)) flag('no crash', problem.kind, problem);

  // heap
  for (const heap of heaps) {
    const limit = heap.start + Math.max(HEAP_MARGIN.bytes, heap.start * HEAP_MARGIN.ratio);
    if (heap.end > limit) flag('heap', 'heap grew past its margin', { ...heap, limit });
  }

  // resumed
  const from = Math.max(0, ...faults.map((f) => f.end)) + RECOVERY_MS;
  const tail = calls.filter((call) => call.start >= from);
  for (const worker of new Set(calls.map((call) => call.worker))) {
    const own = tail.filter((call) => call.worker === worker);
    const profile = PROFILES[worker % PROFILES.length];
    if (own.length === 0) flag('resumed', 'no calls after the faults', { worker });
    else if (!own.some((call) => call.outcome === 'hit' && (!profile.l1 || call.tier === 'memory'))) flag('resumed', profile.l1 ? 'no memory hit after the faults' : 'no hit after the faults', { worker, calls: own.length });
    for (const call of own.filter((c) => c.outcome !== undefined && UNLEASED.has(c.outcome)).slice(0, 3)) flag('resumed', 'answered without the cache after the faults', call);
  }

  const tally = <T>(items: T[], name: (item: T) => string) => items.reduce<Record<string, number>>((counts, item) => ((counts[name(item)] = (counts[name(item)] ?? 0) + 1), counts), {});
  return {
    violations,
    runs: reasons,
    calls: tally(calls, (call) => (call.ok ? `${call.outcome ?? '?'}${call.tier ? ` (${call.tier})` : ''}` : call.hung ? 'hung' : "rejected (a failing run's error, or a violation)")),
    writes: tally(writes, (write) => `${write.kind}${write.ok ? '' : ' (failed)'}`),
    faults: tally(faults, (fault) => fault.name),
    heap: heaps,
    tail: { from, calls: tail.length },
  };
}
