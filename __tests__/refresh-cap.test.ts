import { createClient } from 'redis';
import { createCache, LeaseHeldTooLongError, type Cache } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';

// The hung-function cap (lease.maxHold) applies to background refreshes as to any computation.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const open: Cache[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

test('a refresh whose function hangs is released after maxHold: a later stale hit refreshes again, and the hung result is never stored', async () => {
  const cache = createCache({ redis: { url: redis.url }, namespace: 'cap', ttl: 200, grace: '1m', earlyRefresh: false, lease: { ttl: 300, maxHold: 600 } });
  open.push(cache);
  const capped: unknown[] = [];
  cache.on('error', (error) => error instanceof LeaseHeldTooLongError && capped.push(error));
  expect(await cache.getOrSet('k', () => 'v1')).toBe('v1');
  await sleep(250); // stale
  let release!: (value: string) => void;
  let runs = 0;
  const hung = () => {
    runs++;
    return new Promise<string>((resolve) => (release = resolve));
  };
  expect(await cache.getOrSet('k', hung)).toBe('v1'); // served stale; the refresh hangs
  await sleep(100);
  expect(runs).toBe(1);
  expect(await cache.getOrSet('k', hung)).toBe('v1'); // still running here: no second refresh
  await sleep(100);
  expect(runs).toBe(1);
  await sleep(600); // past maxHold: the hung refresh's lease was released
  expect(capped).toHaveLength(1);
  expect(await admin.exists('cap:{k}:lease')).toBe(0);
  expect(await cache.getOrSet('k', () => 'v2')).toBe('v1'); // stale still; a new refresh starts
  await sleep(100);
  expect(await cache.getOrSet('k', () => 'never')).toBe('v2');
  release('late');
  await sleep(100);
  expect(await cache.getOrSet('k', () => 'never')).toBe('v2'); // the hung result was fenced
});
