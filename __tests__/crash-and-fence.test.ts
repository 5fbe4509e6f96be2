import { createClient } from 'redis';
import { createCache, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFleet, type Fleet } from './fixtures/fleet';
import { valueOf } from './fixtures/values';

// What happens when a leader dies or stalls: a waiter takes over, and a stale leader cannot write.

let redis: EmbeddedRedis;
let client: ReturnType<typeof createClient>;
let fleet: Fleet | undefined;
const caches: Cache[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url });
  await client.connect();
});

afterEach(async () => {
  fleet?.kill();
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await client.quit();
  await redis.stop();
});

function cache(namespace: string, leaseTtl = 10_000): Cache {
  const created = createCache({ redis: { url: redis.url }, namespace, lease: { ttl: leaseTtl } });
  caches.push(created);
  return created;
}

async function until(condition: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('SIGKILL of the leader mid-function: exactly one waiter takes over, every surviving caller is answered in time', async () => {
  const leaseTtl = 1_000;
  const delayMs = 1_500;
  fleet = await startFleet(4, { url: redis.url, namespace: 'crash', key: 'report', callers: 25, delayMs, leaseTtl, kind: 'rich' });
  const events: string[] = [];
  const takeovers = new Promise<number>((resolve) => {
    let count = 0;
    fleet!.workers.forEach((worker) =>
      worker.on('message', (message: { type: string; event?: string }) => {
        if (message.type === 'event') events.push(message.event!);
        if (message.event === 'takeover') resolve(++count);
      }),
    );
  });
  const leader = await fleet.first('lead');
  await until(async () => Number(await client.get('runs:crash')) === 1, 'the leader to start its function');
  fleet.workers[leader].kill('SIGKILL');

  const perWorker = await fleet.done;
  await takeovers;
  expect(perWorker[leader]).toBeUndefined();
  const survivors = perWorker.filter((_, index) => index !== leader).flatMap((results) => results!);
  expect(survivors).toHaveLength(75);
  expect(Number(await client.get('runs:crash'))).toBe(2);
  expect(events.filter((event) => event === 'takeover')).toHaveLength(1);
  for (const result of survivors) {
    expect(result.error).toBeUndefined();
    expect(result.value).toEqual(valueOf('rich'));
    // Bounded by the dead lease running out, then the new leader's run, plus a margin for slow machines.
    expect(result.ms).toBeLessThan(leaseTtl + delayMs + 3_000);
  }
});

test('fence: a leader stalled past its lease cannot overwrite the value written by the leader that replaced it', async () => {
  // The stale leader runs in a child process that is frozen with SIGSTOP mid-function, so its lease
  // renewals stop for real; meanwhile this process takes the key over and writes the newer value.
  fleet = await startFleet(1, { url: redis.url, namespace: 'fence', key: 'price', callers: 1, delayMs: 600, leaseTtl: 300, kind: 'number' });
  const events: string[] = [];
  fleet.workers[0].on('message', (message: { type: string; event?: string }) => message.type === 'event' && events.push(message.event!));
  await fleet.first('lead');
  fleet.workers[0].kill('SIGSTOP');
  const newer = cache('fence', 300);
  await until(async () => (await client.exists('fence:{price}:lease')) === 0, 'the stalled lease to expire');
  expect(await newer.getOrSet('price', () => 2)).toBe(2);
  fleet.workers[0].kill('SIGCONT');

  const [results] = await fleet.done;
  expect(results![0].value).toBe(1); // its own caller still gets what its function returned
  expect(events).toContain('fence');
  expect(await newer.get('price')).toBe(2);
});

test('fence: delete() during a computation voids its lease, so the value computed from older data is not cached', async () => {
  const writer = cache('void');
  const invalidator = cache('void');
  const fences: string[] = [];
  writer.on('fence', (key) => fences.push(key));
  let release!: () => void;
  const computing = writer.getOrSet('user:1', () => new Promise<string>((resolve) => (release = () => resolve('before update'))));
  await until(async () => release !== undefined, 'the function to start');
  expect(await invalidator.delete('user:1')).toBe(false);
  release();
  expect(await computing).toBe('before update');
  expect(fences).toEqual(['user:1']);
  expect(await invalidator.get('user:1')).toBeUndefined();
  expect(await invalidator.getOrSet('user:1', () => 'after update')).toBe('after update');
});

test('fence: set() during a computation wins over the computation', async () => {
  const writer = cache('override');
  const setter = cache('override');
  let release!: () => void;
  const computing = writer.getOrSet('k', () => new Promise<string>((resolve) => (release = () => resolve('computed'))));
  await until(async () => release !== undefined, 'the function to start');
  await setter.set('k', 'set by hand');
  release();
  expect(await computing).toBe('computed');
  expect(await setter.get('k')).toBe('set by hand');
});

test('waiters woken by a delete() recompute once instead of waiting for the voided lease', async () => {
  const leader = cache('wake');
  const waiter = cache('wake');
  let release!: () => void;
  let runs = 0;
  const first = leader.getOrSet('k', () => new Promise<string>((resolve) => (release = () => resolve(`run ${++runs}`))));
  await until(async () => release !== undefined, 'the function to start');
  const waiting = new Promise<void>((resolve) => waiter.once('wait', () => resolve()));
  const second = waiter.getOrSet('k', async () => `run ${++runs}`);
  await waiting;
  await leader.delete('k');
  expect(await second).toBe('run 1');
  release();
  expect(await first).toBe('run 2');
  expect(await waiter.get('k')).toBe('run 1');
});
