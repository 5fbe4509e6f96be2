import { createClient } from 'redis';
import { createCache, type Cache, type CacheOptions } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFleet, type Fleet } from './fixtures/fleet';
import { valueOf } from './fixtures/values';

// Takeover in milliseconds: a lease records its holder's connection, and a waiter that finds that
// connection gone (the holder's process died: Redis closes its connections at once) takes over without
// waiting out the lease's TTL. Leases here last 30 s, so an answer within a few seconds of a crash can
// only come from the connection check; the bounds are loose otherwise (they only tell 30 s from ~0.2 s).

const LONG_LEASE = 30_000;

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let fleet: Fleet | undefined;
const caches: Cache[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterEach(async () => {
  fleet?.kill();
  fleet = undefined;
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

function cache(namespace: string, options: CacheOptions = {}): Cache {
  const created = createCache({ redis: { url: redis.url }, namespace, lease: { ttl: LONG_LEASE }, ...options });
  created.on('error', () => undefined);
  caches.push(created);
  return created;
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test("a SIGKILLed leader's waiters take over within milliseconds, not the lease's TTL", async () => {
  fleet = await startFleet(1, { url: redis.url, namespace: 'solo', key: 'report', callers: 1, delayMs: 20_000, leaseTtl: LONG_LEASE, kind: 'number' });
  await fleet.first('lead');
  await until(async () => Number(await admin.get('runs:solo')) === 1, 'the leader to start its function');
  const lease = await admin.get('solo:{report}:lease');
  // The lease names its holder's connection, which is open.
  const [, connection] = lease!.split(' ');
  expect(connection).toMatch(/^\d+$/);
  expect(await admin.sendCommand(['CLIENT', 'LIST', 'ID', connection])).not.toBe('');

  const waiter = cache('solo');
  const events: string[] = [];
  for (const event of ['wait', 'takeover', 'lead'] as const) waiter.on(event, () => events.push(event));
  const answer = waiter.getOrSet('report', () => 'taken over');
  await until(() => events.includes('wait'), 'the waiter to wait');
  await sleep(300); // the waiter is settled in its wait: this is no race with the first acquire
  const killedAt = Date.now();
  fleet.workers[0].kill('SIGKILL');
  expect(await answer).toBe('taken over');
  const tookMs = Date.now() - killedAt;
  expect(events).toEqual(['wait', 'takeover', 'lead']);
  expect(tookMs).toBeLessThan(5_000); // the lease had 29 s left
  expect(await waiter.get('report')).toBe('taken over');
});

test('a caller that arrives just after a solo crash is not held up by the dead lease', async () => {
  fleet = await startFleet(1, { url: redis.url, namespace: 'late', key: 'k', callers: 1, delayMs: 20_000, leaseTtl: LONG_LEASE, kind: 'number' });
  await fleet.first('lead');
  await until(async () => Number(await admin.get('runs:late')) === 1, 'the leader to start its function');
  const waiter = cache('late');
  await waiter.get('connect');
  const exited = new Promise((resolve) => fleet!.workers[0].once('exit', resolve));
  fleet.workers[0].kill('SIGKILL');
  await exited;
  await sleep(100);
  // The lease is still there, with 29 s to run: only its holder's closed connection tells it is dead.
  expect(await admin.pTTL('late:{k}:lease')).toBeGreaterThan(20_000);
  const started = Date.now();
  const takeovers: string[] = [];
  waiter.on('takeover', (key) => takeovers.push(key));
  expect(await waiter.getOrSet('k', () => 'after the crash')).toBe('after the crash');
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(takeovers).toEqual(['k']);
});

test('every waiting process takes over at once after the crash, and exactly one of them computes', async () => {
  fleet = await startFleet(1, { url: redis.url, namespace: 'many', key: 'k', callers: 1, delayMs: 20_000, leaseTtl: LONG_LEASE, kind: 'number' });
  await fleet.first('lead');
  await until(async () => Number(await admin.get('runs:many')) === 1, 'the leader to start its function');
  const waiters = [cache('many'), cache('many'), cache('many')];
  let runs = 0;
  const answers = waiters.map((w) => w.getOrSet('k', async () => ++runs));
  await sleep(400);
  const killedAt = Date.now();
  fleet.workers[0].kill('SIGKILL');
  const values = await Promise.all(answers);
  expect(Date.now() - killedAt).toBeLessThan(5_000);
  expect(runs).toBe(1);
  expect(values).toEqual([1, 1, 1]);
});

test('a holder that is alive but slow keeps its lease: its connection is open, however long it computes', async () => {
  fleet = await startFleet(1, { url: redis.url, namespace: 'slow', key: 'k', callers: 1, delayMs: 1_500, leaseTtl: LONG_LEASE, kind: 'rich' });
  const waiter = cache('slow');
  const takeovers: string[] = [];
  waiter.on('takeover', (key) => takeovers.push(key));
  await fleet.first('lead');
  const value = await waiter.getOrSet('k', () => 'not me');
  expect(value).toEqual(valueOf('rich'));
  expect(takeovers).toEqual([]);
  expect(Number(await admin.get('runs:slow'))).toBe(1);
  await fleet.done;
});

test("a holder whose connection is killed keeps working; a waiter may take over, and the holder's late result is fenced", async () => {
  const holder = cache('reconnect', { commandTimeout: '2s' });
  const waiter = cache('reconnect');
  const fences: string[] = [];
  holder.on('fence', (key) => fences.push(key));
  const takeovers: string[] = [];
  waiter.on('takeover', (key) => takeovers.push(key));
  let holderRan = false;
  const first = holder.getOrSet('k', async () => {
    holderRan = true;
    await sleep(1_500);
    return 'from the holder';
  });
  await until(() => holderRan, 'the holder to compute');
  const second = waiter.getOrSet('k', async () => 'from the waiter');
  await sleep(200);
  const [, connection] = (await admin.get('reconnect:{k}:lease'))!.split(' ');
  await admin.sendCommand(['CLIENT', 'KILL', 'ID', connection]);
  // Both callers are answered; what Redis keeps is the waiter's, never overwritten by the older run.
  expect(await second).toBe('from the waiter');
  expect(await first).toBe('from the holder');
  expect(takeovers).toEqual(['k']);
  expect(fences).toEqual(['k']);
  expect(await waiter.get('k')).toBe('from the waiter');
});

test("a holder that renews from a new connection after a reconnection is not taken for dead", async () => {
  // Lease ttl 600 ms: renewed every 200 ms, so the renewal after the reconnection records the new connection
  // well before a waiter could see the old one gone; the waiter must not take over.
  const holder = cache('renewed', { lease: { ttl: 600 } });
  let holderRan = false;
  const first = holder.getOrSet('k', async () => {
    holderRan = true;
    await sleep(1_500);
    return 'from the holder';
  });
  await until(() => holderRan, 'the holder to compute');
  const [, before] = (await admin.get('renewed:{k}:lease'))!.split(' ');
  await admin.sendCommand(['CLIENT', 'KILL', 'ID', before]);
  await until(async () => {
    const lease = await admin.get('renewed:{k}:lease');
    return lease !== null && lease.split(' ')[1] !== undefined && lease.split(' ')[1] !== before;
  }, 'a renewal from the new connection');
  const waiter = cache('renewed');
  const takeovers: string[] = [];
  waiter.on('takeover', (key) => takeovers.push(key));
  expect(await waiter.getOrSet('k', async () => 'from the waiter')).toBe('from the holder');
  expect(await first).toBe('from the holder');
  expect(takeovers).toEqual([]);
});

test('a server that refuses CLIENT: said once on the error event, and waiters fall back to the lease TTL', async () => {
  await admin.sendCommand(['ACL', 'SETUSER', 'noclient', 'on', '>secret', '~*', '&*', '+@all', '-client']);
  const url = redis.url.replace('redis://', 'redis://noclient:secret@');
  const errors: { code?: string; message: string }[] = [];
  const restricted = createCache({ redis: { url }, namespace: 'acl', lease: { ttl: 1_000 } });
  caches.push(restricted);
  restricted.on('error', (error) => errors.push(error as { code?: string; message: string }));
  const otherProcess = createCache({ redis: { url }, namespace: 'acl', lease: { ttl: 1_000 } });
  caches.push(otherProcess);
  otherProcess.on('error', () => undefined);
  let ran = false;
  const slow = restricted.getOrSet('k', async () => {
    ran = true;
    await sleep(500);
    return 'v';
  });
  await until(() => ran, 'the leader to compute');
  // No connection recorded: the lease is the token alone.
  expect(await admin.get('acl:{k}:lease')).not.toContain(' ');
  expect(await otherProcess.getOrSet('k', () => 'w')).toBe('v');
  expect(await slow).toBe('v');
  for (let i = 0; i < 3; i++) await restricted.getOrSet(`more${i}`, () => i);
  const refused = errors.filter((e) => e.code === 'ERR_HERDLESS_CLIENT_REFUSED');
  expect(refused).toHaveLength(1);
  expect(refused[0].message).toMatch(/CLIENT ID/);
  expect(refused[0].message).toMatch(/client\|id/);
});
