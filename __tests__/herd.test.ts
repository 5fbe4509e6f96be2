import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFleet, type Fleet } from './fixtures/fleet';
import { richValue } from './fixtures/values';
import type { CallResult, WorkerConfig } from './fixtures/worker';

// The stampede itself: 4 processes x 25 concurrent callers on one cold key must run the function once.

let redis: EmbeddedRedis;
let client: ReturnType<typeof createClient>;
let fleet: Fleet | undefined;
let run = 0;

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  await client.connect();
});

afterEach(() => fleet?.kill());

afterAll(async () => {
  await client.quit();
  await redis.stop();
});

async function herd(overrides: Partial<WorkerConfig>) {
  const namespace = overrides.namespace ?? `herd${++run}`;
  const config: WorkerConfig = { url: redis.url, key: 'report', callers: 25, delayMs: 100, leaseTtl: 10_000, kind: 'rich', ...overrides, namespace };
  fleet = await startFleet(4, config);
  const perWorker = await fleet.done;
  const results = perWorker.flatMap((r) => r ?? []);
  const runs = Number(await client.get(`runs:${namespace}`));
  return { results, runs, perWorker };
}

function expectAllEqual(results: CallResult[], expected: unknown) {
  expect(results).toHaveLength(100);
  for (const result of results) {
    expect(result.error).toBeUndefined();
    expect(result.value).toEqual(expected);
  }
}

test('100 callers in 4 processes on a cold key: the function runs once and every caller gets an equal value', async () => {
  const { results, runs } = await herd({});
  expect(runs).toBe(1);
  expectAllEqual(results, richValue());
});

test('a function that outlives its lease keeps it by renewal: still one run', async () => {
  // lease 300 ms, function 1 s: without renewal the lease would expire three times over.
  const { results, runs } = await herd({ leaseTtl: 300, delayMs: 1_000 });
  expect(runs).toBe(1);
  expectAllEqual(results, richValue());
});

test('a function longer than 2 s: waiters keep waiting instead of giving up and computing', async () => {
  const { results, runs } = await herd({ delayMs: 2_500 });
  expect(runs).toBe(1);
  expectAllEqual(results, richValue());
});

test.each(['zero', 'empty', 'false', 'null', 'undefined', 'nan'] as const)(
  'the falsy value %s is cached and read back as itself in every process',
  async (kind) => {
    const { results, runs } = await herd({ kind, delayMs: 50 });
    expect(runs).toBe(1);
    const expected = results[0].value;
    expect(results).toHaveLength(100);
    for (const result of results) {
      expect(result.ok).toBe(true);
      expect(Object.is(result.value, expected)).toBe(true);
    }
    expect(expected).toEqual({ zero: 0, empty: '', false: false, null: null, undefined: undefined, nan: NaN }[kind]);
  },
);

test('an error thrown by the function reaches the waiters of every process; nothing is cached; the next call starts fresh', async () => {
  const { results, runs } = await herd({ failWith: 'database down', delayMs: 200 });
  expect(runs).toBe(1);
  expect(results).toHaveLength(100);
  for (const result of results) {
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ message: 'database down', code: 'E_FACTORY' });
  }
  // The namespace's epoch (tags/scripts.ts) is kept for good; the key's own family must be gone.
  const keys = await client.keys(`herd${run}:{*`);
  expect(keys.filter((key) => !key.includes(':err:'))).toEqual([]);
  // A fresh call after the failure computes again (errors are not cached).
  const again = await herd({ namespace: `herd${run}`, delayMs: 10 });
  expect(again.runs).toBe(2);
  expectAllEqual(again.results, richValue());
});
