import { callBoundMs, COMMAND_MS, DELIVERY_MS, RECOVERY_MS, UNAWARE_MS } from '../support/soak/bounds';
import { failureOf, PROFILES, SETTINGS, type CallLog, type Entry, type FaultLog, type RunLog, type WriteLog } from '../support/soak/log';
import { INVARIANTS, judge, type Invariant } from '../support/soak/oracle';

/*
 * The soak's oracle (support/soak/oracle.ts) judges logs: here, small hand-made logs, each breaking one
 * invariant, must be caught, and the same log without the break must pass. The soak itself (npm run soak)
 * runs the workload against real Redis and real faults; this is what makes its "0 violations" mean
 * something: each check can fail.
 */

const T = 1_000_000;
let ids = 0;
const call = (over: Partial<CallLog> & { key: string; run?: number; kind?: 'run' | 'set' }): CallLog => {
  const { run = 1, kind = 'run', ...rest } = over;
  return { type: 'call', worker: 0, id: `0.0.${++ids}`, start: T, end: T + 5, ok: true, outcome: 'hit', tier: 'redis', value: { key: over.key, run, worker: 0, kind }, ...rest };
};
const run = (over: Partial<RunLog> & { key: string; call: string }): RunLog => ({ type: 'run', worker: 0, run: 1, start: T, end: T + 10, ...over });
const write = (over: Partial<WriteLog> & { key: string; floor: number }): WriteLog => {
  const { key, floor, ...rest } = over;
  return { type: 'write', worker: 1, kind: 'delete', keys: [key], floors: [floor], sent: T, resolved: T + 2, ok: true, ...rest };
};
const fault = (over: Partial<FaultLog> = {}): FaultLog => ({ type: 'fault', name: 'blackhole', worker: 0, start: T, end: T + 1_000, ...over });

/** A lead: the call and its run. */
function lead(key: string, at: number, number: number, over: Partial<CallLog> = {}): Entry[] {
  const c = call({ key, run: number, outcome: 'lead', tier: undefined, start: at, end: at + 12, ...over });
  return [c, run({ key, call: c.id, run: number, start: at + 1, end: at + 11, worker: c.worker })];
}

/** A hit late in the log from each worker seen: from memory for worker 0 (its profile has the tier), from Redis for worker 2 (its has not). */
function resumed(after: number, workers = [0, 2]): Entry[] {
  return workers.map((worker) => call({ key: 'k199', worker, start: after, end: after + 1, tier: PROFILES[worker].l1 ? 'memory' : 'redis', value: { key: 'k199', run: 1, worker, kind: 'run' } }));
}

const only = (entries: Entry[], invariant: Invariant) => {
  const { violations } = judge(entries);
  return { broken: violations[invariant].length, others: INVARIANTS.filter((name) => name !== invariant && violations[name].length > 0) };
};

test('a clean log passes every invariant', () => {
  const entries = [...lead('k199', T - 10_000, 1), ...resumed(T)];
  const { violations } = judge(entries);
  expect(violations).toEqual(Object.fromEntries(INVARIANTS.map((name) => [name, []])));
});

test('bounded: a call past its bound, or hung', () => {
  const ok = [...lead('k199', T - 10_000, 1), ...resumed(T)];
  expect(only([...ok, call({ key: 'k199', start: T + 10, end: T + 10 + callBoundMs() - 1, value: { key: 'k199', run: 1, worker: 0, kind: 'run' } })], 'bounded').broken).toBe(0);
  expect(only([...ok, call({ key: 'k199', start: T + 10, end: T + 10 + callBoundMs() + 1 })], 'bounded').broken).toBe(1);
  expect(only([...ok, call({ key: 'k199', ok: false, hung: true, error: 'hung', value: undefined })], 'bounded').broken).toBe(1);
});

test('answered: a getOrSet that rejected; a write that failed with no fault near', () => {
  const ok = [...lead('k199', T - 10_000, 1), ...resumed(T)];
  expect(only([...ok, call({ key: 'k199', ok: false, error: 'TypeError', value: undefined })], 'answered')).toEqual({ broken: 1, others: [] });
  expect(only([...ok, write({ key: 'k5', floor: 3, ok: false, error: 'DeadlineError' })], 'answered').broken).toBe(1);
  expect(only([...ok, write({ key: 'k5', floor: 3, ok: false, error: 'DeadlineError' }), fault({ start: T - 100, end: T - 50, worker: undefined })], 'answered').broken).toBe(0);
  // The error of a run of its key that threw while the call waited is an answer; another key's is not.
  const failing = lead('k5', T + 100, 4);
  (failing[1] as RunLog).threw = true;
  const waiter = (key: string, start: number) => call({ key, worker: 2, start, end: start + 5, ok: false, outcome: 'wait', error: `Error: ${failureOf('k5', 4)}`, value: undefined });
  expect(only([...ok, ...failing, waiter('k5', T + 105)], 'answered').broken).toBe(0);
  expect(only([...ok, ...failing, waiter('k6', T + 105)], 'answered').broken).toBe(1);
  expect(only([...ok, ...failing, waiter('k5', T + 111 + COMMAND_MS + 1)], 'answered').broken).toBe(1);
});

test("own key: another key's value", () => {
  const entries = [...lead('k199', T - 10_000, 1), ...resumed(T + 1), call({ key: 'k199', value: { key: 'k198', run: 1, worker: 0, kind: 'run' } })];
  expect(only(entries, 'own key')).toEqual({ broken: 1, others: [] });
});

describe('fresh', () => {
  const base = [...lead('k7', T - 10_000, 1), ...resumed(T + 50_000)];
  const deleted = write({ key: 'k7', floor: 2, sent: T, resolved: T + 3 });

  test('a value a resolved delete invalidated, served to a call started after the delivery bound', () => {
    expect(only([...base, deleted, call({ key: 'k7', run: 1, start: T + 3 + DELIVERY_MS + 1, end: T + 3 + DELIVERY_MS + 2 })], 'fresh').broken).toBe(1);
    // Within the delivery bound, or a value from after the delete: fine.
    expect(only([...base, deleted, call({ key: 'k7', run: 1, start: T + 3 + DELIVERY_MS - 1, end: T + 3 + DELIVERY_MS })], 'fresh').broken).toBe(0);
    expect(only([...base, deleted, call({ key: 'k7', run: 3, start: T + 500, end: T + 501 })], 'fresh').broken).toBe(0);
  });

  test('a group invalidation and a clear reach every key they name', () => {
    const group = write({ key: 'k7', floor: 2, kind: 'group', keys: ['k3', 'k7'], floors: [5, 2] });
    expect(only([...base, group, call({ key: 'k7', run: 1, start: T + 1_000 })], 'fresh').broken).toBe(1);
  });

  test("a set's value is replaced only by a write sent once the set had resolved", () => {
    const set = write({ key: 'k7', floor: 2, kind: 'set', sent: T, resolved: T + 50 });
    const concurrent = write({ key: 'k7', floor: 3, sent: T + 10, resolved: T + 20 });
    const after = write({ key: 'k7', floor: 4, sent: T + 60, resolved: T + 70 });
    const read = call({ key: 'k7', run: 2, kind: 'set', start: T + 1_000, end: T + 1_001 });
    expect(only([...base, set, concurrent, read], 'fresh').broken).toBe(0);
    expect(only([...base, set, concurrent, after, read], 'fresh').broken).toBe(1);
  });

  test('a fault that blinds the reader excuses it until UNAWARE_MS after the fault, not longer', () => {
    const blind = fault({ worker: 0, start: T - 10, end: T + 100 });
    const at = (start: number) => call({ key: 'k7', run: 1, start, end: start + 1 });
    expect(only([...base, deleted, blind, at(T + 100 + UNAWARE_MS - 10)], 'fresh').broken).toBe(0);
    expect(only([...base, deleted, blind, at(T + 100 + UNAWARE_MS + 10)], 'fresh').broken).toBe(1);
    // A fault on another worker's link does not blind this one.
    expect(only([...base, deleted, fault({ worker: 1, start: T - 10, end: T + 100 }), at(T + 500)], 'fresh').broken).toBe(1);
  });
});

describe('runs', () => {
  const tail = resumed(T + 60_000);

  test('a second fill before the value expired, with nothing to explain it', () => {
    const entries = [...lead('k9', T, 1), ...lead('k9', T + 500, 2), ...tail];
    expect(only(entries, 'runs')).toEqual({ broken: 1, others: [] });
    // After expiry, after an invalidation, or after a fault: explained.
    expect(only([...lead('k9', T, 1), ...lead('k9', T + SETTINGS.ttlMs + 100, 2), ...tail], 'runs').broken).toBe(0);
    expect(only([...lead('k9', T, 1), write({ key: 'k9', floor: 2, sent: T + 200, resolved: T + 210 }), ...lead('k9', T + 500, 3), ...tail], 'runs').broken).toBe(0);
    expect(only([...lead('k9', T, 1), fault({ worker: undefined, name: 'redis restart', start: T + 100, end: T + 300 }), ...lead('k9', T + 500, 2), ...tail], 'runs').broken).toBe(0);
  });

  test('two leases at once (a herd)', () => {
    const entries = [...lead('k9', T, 1), ...lead('k9', T + 5, 2, { worker: 2 }), ...tail];
    expect(only(entries, 'runs').broken).toBe(1);
  });

  test('an uncached answer, or a takeover, with no fault near', () => {
    const uncached = lead('k9', T, 1, { outcome: 'uncached' });
    expect(only([...uncached, ...tail], 'runs').broken).toBe(1);
    expect(only([...uncached, fault({ start: T - 200, end: T - 100 }), ...tail], 'runs').broken).toBe(0);
    const takeover = lead('k9', T, 1, { outcome: 'takeover' });
    expect(only([...takeover, ...tail], 'runs').broken).toBe(1);
    expect(only([...takeover, fault({ name: 'kill', worker: 1, start: T - 300, end: T - 290 }), ...tail], 'runs').broken).toBe(0);
  });

  test('a run of no call, or of a call answered from the cache', () => {
    expect(only([run({ key: 'k9', call: 'nobody' }), ...tail], 'runs').broken).toBe(1);
    const hit = call({ key: 'k9', start: T, end: T + 20 });
    expect(only([hit, run({ key: 'k9', call: hit.id, start: T + 1, end: T + 10 }), ...tail], 'runs').broken).toBe(1);
  });
});

test('no crash: an unhandled rejection or an unexpected exit', () => {
  const ok = [...lead('k199', T - 10_000, 1), ...resumed(T)];
  expect(only([...ok, { type: 'problem', worker: 1, kind: 'unhandled', detail: 'TypeError', at: T }], 'no crash').broken).toBe(1);
});

test('heap: grown past its margin', () => {
  const ok = [...lead('k199', T - 10_000, 1), ...resumed(T)];
  const mb = 1024 * 1024;
  expect(only([...ok, { type: 'heap', worker: 0, incarnation: 0, start: 30 * mb, end: 36 * mb }], 'heap').broken).toBe(0);
  expect(only([...ok, { type: 'heap', worker: 0, incarnation: 0, start: 30 * mb, end: 45 * mb }], 'heap').broken).toBe(1);
});

test('resumed: no memory hit after the faults where the tier is on, or an uncached answer then', () => {
  const faulted = fault({ worker: undefined, start: T, end: T + 100 });
  const after = T + 100 + RECOVERY_MS + 10;
  const redisOnly = [call({ key: 'k1', worker: 0, start: after, tier: 'redis' }), call({ key: 'k1', worker: 2, start: after, tier: 'redis' })];
  expect(only([faulted, ...redisOnly], 'resumed').broken).toBe(1);
  expect(only([faulted, ...resumed(after)], 'resumed').broken).toBe(0);
  const uncached = lead('k2', after + 5, 1, { outcome: 'uncached', worker: 2 });
  expect(only([faulted, ...resumed(after), ...uncached], 'resumed').broken).toBe(1);
});
