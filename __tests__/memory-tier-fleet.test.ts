import { createClient } from 'redis';
import { createCache, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFreshFleet, type FreshFleet } from './fixtures/freshness-fleet';
import type { CallResult, Computed } from './fixtures/freshness-worker';

// The memory tier across real processes: 3 reader processes with L1 read one key back to back while this
// process writes a new version every 50 ms, and the readers' subscriber connections are killed twice
// meanwhile. A read is stale if it started more than 100 ms after a newer version's set() resolved.

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
  const stale = reads.filter((read) => {
    if (!read.ok || !read.value) return false;
    const newer = resolvedAt.findIndex((t, run) => run > read.value!.run && t !== undefined && read.startedAt > t + 100);
    return newer !== -1;
  });
  expect(reads.filter((r) => !r.ok)).toEqual([]);
  expect(stale).toEqual([]);
  // And the tier was in use: most reads never reached Redis.
  expect((await gets()) - getsBefore).toBeLessThan(reads.length / 2);
});
