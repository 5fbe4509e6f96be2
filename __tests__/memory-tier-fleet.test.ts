import { createClient } from 'redis';
import { createCache, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFreshFleet, type FreshFleet } from './fixtures/freshness-fleet';
import type { CallResult, Computed } from './fixtures/freshness-worker';

// The memory tier across real processes: 3 reader processes with L1 read one key back to back while this
// process writes a new version every 50 ms, and the readers' subscriber connections are killed twice
// meanwhile; then the same through a paused server. A read is stale if it started more than 100 ms after a
// newer version's set() resolved.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let fleet: FreshFleet;
let writer: Cache;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  fleet = await startFreshFleet(3, redis.url);
});

afterAll(async () => {
  await writer?.close();
  await fleet?.stop();
  await admin?.quit();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads that returned a version older than one whose write resolved more than 100 ms before they started. */
function staleReads(reads: CallResult[], resolvedAt: number[]): CallResult[] {
  return reads.filter((read) => {
    // An answer computed without the cache (Redis unreachable) is the function's own, fresh result.
    if (!read.ok || !read.value || read.value.value === 'computed') return false;
    return resolvedAt.some((t, run) => run > read.value!.run && t !== undefined && read.startedAt > t + 100);
  });
}

test('readers in 3 processes never serve a version older than one whose write resolved 100 ms before, across two killed subscriber connections', async () => {
  const spec = { namespace: 'l1-fleet', options: { l1: true, ttl: 60_000 } };
  const gets = async () => Number((await admin.info('commandstats')).match(/cmdstat_get:calls=(\d+)/)?.[1] ?? 0);
  const getsBefore = await gets();
  writer = createCache({ redis: { url: redis.url }, namespace: spec.namespace });
  const version = (run: number): Computed => ({ value: `v${run}`, computedAt: Date.now(), pid: process.pid, run });
  await writer.set('k', version(0));
  const resolvedAt: number[] = [Date.now()];
  const at = Date.now() + 200;
  const reading = Promise.all(fleet.workers.map((w) => w.loop(spec, 'k', { value: 'computed', delayMs: 0 }, { forMs: 4_000, gapMs: 1, at })));
  await sleep(at - Date.now());
  const until = Date.now() + 3_500;
  for (let run = 1; Date.now() < until; run++) {
    await writer.set('k', version(run));
    resolvedAt[run] = Date.now();
    if (run === 20 || run === 45) await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await sleep(50);
  }
  const reads: CallResult[] = (await reading).flat();
  expect(reads.length).toBeGreaterThan(1_000);
  expect(reads.filter((r) => !r.ok)).toEqual([]);
  expect(staleReads(reads, resolvedAt)).toEqual([]);
  // And the tier was in use: most reads never reached Redis.
  expect((await gets()) - getsBefore).toBeLessThan(reads.length / 2);
});

test('readers in 3 processes serve no stale version through a paused server: SIGSTOP past the echo bound, then CLIENT PAUSE WRITE', async () => {
  const spec = { namespace: 'l1-paused', options: { l1: true, ttl: 60_000, commandTimeout: 200 } };
  const paused = createCache({ redis: { url: redis.url }, namespace: spec.namespace, commandTimeout: 200 });
  paused.on('error', () => undefined);
  const version = (run: number): Computed => ({ value: `v${run}`, computedAt: Date.now(), pid: process.pid, run });
  await paused.set('k', version(0));
  const resolvedAt: number[] = [Date.now()];
  const at = Date.now() + 200;
  const reading = Promise.all(fleet.workers.map((w) => w.loop(spec, 'k', { value: 'computed', delayMs: 0 }, { forMs: 9_000, gapMs: 1, at })));
  await sleep(at - Date.now() + 500);
  let run = 0;
  const writeFor = async (ms: number) => {
    for (const until = Date.now() + ms; Date.now() < until; ) {
      const next = ++run;
      // A write that times out may still land when the server wakes; only resolved writes count.
      if (await paused.set('k', version(next)).then(() => true, () => false)) resolvedAt[next] = Date.now();
      await sleep(50);
    }
  };
  await writeFor(1_000);
  process.kill(redis.pid, 'SIGSTOP');
  await writeFor(3_500); // past DEAD_AFTER_MS: the readers' echoes stop coming back
  process.kill(redis.pid, 'SIGCONT');
  await writeFor(1_000);
  await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'WRITE']); // PUBLISH and scripts wait; GETs go on
  await writeFor(2_500);
  await paused.close();
  const reads: CallResult[] = (await reading).flat();
  expect(reads.length).toBeGreaterThan(1_000);
  expect(reads.filter((r) => !r.ok)).toEqual([]);
  expect(staleReads(reads, resolvedAt)).toEqual([]);
  // The readers kept up with the writes once the server was back.
  const last = reads.filter((r) => r.ok && r.value?.value !== 'computed').sort((a, b) => b.startedAt - a.startedAt)[0];
  expect(last.value!.run).toBeGreaterThan(run - 5);
}, 30_000);
