import { createCache, type Cache, type CacheOptions } from '../src';
import { slotOf } from '../src/store/slot';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startCluster, type LocalCluster } from '../support/redis-cluster';
import { startFreshFleet, type FreshFleet } from './fixtures/freshness-fleet';
import type { CacheSpec, CallResult, Computed } from './fixtures/freshness-worker';

// The memory tier on a real Redis Cluster (3 masters, 3 replicas): invalidations are published with
// classic PUBLISH from the write scripts on every master, which the cluster bus forwards to every node,
// so each process needs one subscription, on any node. Readers run in 2 processes; this process writes.
// A read is stale if it started more than 100 ms after a newer version's set() resolved.

let cluster: LocalCluster;
let counters: EmbeddedRedis;
let fleet: FreshFleet;
const open: Cache[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  [cluster, counters] = await Promise.all([startCluster(), startRedis()]);
  fleet = await startFreshFleet(2, counters.url); // the workers count factory runs on the standalone server
}, 120_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await fleet?.stop();
  await counters?.stop();
  await cluster?.stop();
});

function clusterCache(namespace: string, options: CacheOptions = {}): Cache {
  const cache = createCache({ redis: { cluster: { rootNodes: cluster.rootNodes } }, namespace, commandTimeout: 300, ...options });
  cache.on('error', () => undefined);
  open.push(cache);
  return cache;
}

const keyslot = (key: string) => Number(cluster.cli(cluster.nodes[0].port, 'cluster', 'keyslot', key).trim());

/** Two keys per master: `count` keys whose value keys cover every master. */
async function keysOnEveryMaster(namespace: string, perMaster: number): Promise<string[]> {
  const byMaster = new Map<number, string[]>();
  for (let i = 0; [...byMaster.values()].reduce((n, keys) => n + Math.min(keys.length, perMaster), 0) < 3 * perMaster; i++) {
    const key = `k${i}`;
    const master = await cluster.masterOf(slotOf(`${namespace}:{${key}}:v`));
    const keys = byMaster.get(master) ?? [];
    if (keys.length < perMaster) keys.push(key);
    byMaster.set(master, keys);
  }
  return [...byMaster.values()].flat();
}

/** Reads until this cache answers `key` from memory, or gives up. */
async function untilMemoryHit(cache: Cache, key: string): Promise<void> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  cache.on('hit', listener);
  try {
    for (const end = Date.now() + 20_000; tier !== 'memory' && Date.now() < end; ) {
      await cache.getOrSet(key, () => 'filled');
      await sleep(25);
    }
  } finally {
    cache.off('hit', listener);
  }
  expect(tier).toBe('memory');
}

type KeyedRead = CallResult & { key: string };

function staleReads(reads: KeyedRead[], resolvedAt: Map<string, number[]>): KeyedRead[] {
  return reads.filter((read) => {
    if (!read.ok || !read.value || read.value.value === 'computed') return false;
    const times = resolvedAt.get(read.key) ?? [];
    return times.some((t, run) => run > read.value!.run && t !== undefined && read.startedAt > t + 100);
  });
}

/** A master that still has a live replica (so that killing it fails over), read from CLUSTER NODES. */
function masterWithReplica(): number {
  const alive = cluster.nodes.filter((node) => node.process.exitCode === null && node.process.signalCode === null);
  const lines = cluster.cli(alive[0].port, 'cluster', 'nodes').trim().split('\n').map((line) => line.split(' '));
  const healthy = lines.filter((fields) => !fields[2].includes('fail'));
  const master = healthy.find((fields) => fields[2].includes('master') && healthy.some((r) => r[3] === fields[0]));
  return Number(master![1].split(':')[1].split('@')[0]);
}

test('the node carrying a tier\'s subscription dies: the tier stops answering, subscribes again elsewhere, and answers from memory again', async () => {
  const reader = clusterCache('l1-node', { l1: true });
  const writer = clusterCache('l1-node');
  await writer.set('k', 'v1');
  await untilMemoryHit(reader, 'k');
  const subscriber = await (reader as unknown as { store: { subscriber: Promise<{ pubSubNode?: { address: string } }> } }).store.subscriber;
  const port = Number(subscriber.pubSubNode!.address.split(':')[1]);
  cluster.nodes.find((node) => node.port === port)!.process.kill('SIGKILL');
  // Written while the subscription is down: an invalidation that this tier never hears.
  const written = Date.now();
  let wrote = false;
  while (!wrote && Date.now() - written < 20_000) {
    wrote = await writer.set('k', 'v2').then(() => true, () => false);
    if (!wrote) await sleep(100);
  }
  expect(wrote).toBe(true);
  await cluster.waitUntilHealthy(30_000);
  // The tier never answers v1 again, and comes back on another node.
  const seen = new Set<unknown>();
  for (const end = Date.now() + 3_000; Date.now() < end; await sleep(25)) seen.add(await reader.getOrSet('k', () => 'computed'));
  expect(seen.has('v1')).toBe(false);
  await untilMemoryHit(reader, 'k');
  expect(await reader.getOrSet('k', () => 'never')).toBe('v2');
}, 90_000);

test('readers in 2 processes, keys on every master, a master failing over under load: no stale read from memory', async () => {
  const namespace = 'l1-fleet';
  const keys = await keysOnEveryMaster(namespace, 2);
  const spec: CacheSpec = { namespace, rootNodes: cluster.rootNodes, options: { l1: true, ttl: 60_000, commandTimeout: 300 } };
  const writer = clusterCache(namespace);
  const version = (run: number): Computed => ({ value: `v${run}`, computedAt: Date.now(), pid: process.pid, run });
  const resolvedAt = new Map<string, number[]>(keys.map((key) => [key, []]));
  for (const key of keys) {
    await writer.set(key, version(0));
    resolvedAt.get(key)![0] = Date.now();
  }
  const at = Date.now() + 300;
  const reading = Promise.all(
    fleet.workers.flatMap((w) => keys.map((key) => w.loop(spec, key, { value: 'computed', delayMs: 0 }, { forMs: 9_000, gapMs: 2, at }).then((reads): KeyedRead[] => reads.map((read) => ({ ...read, key }))))),
  );
  await sleep(at - Date.now() + 1_000);
  let run = 0;
  let victim: number | undefined;
  let killedAt = 0;
  const onVictim: string[] = [];
  for (const until = Date.now() + 7_000; Date.now() < until; ) {
    const next = ++run;
    await Promise.all(keys.map(async (key) => {
      if (await writer.set(key, version(next)).then(() => true, () => false)) resolvedAt.get(key)![next] = Date.now();
    }));
    if (victim === undefined && run === 20) {
      victim = masterWithReplica();
      for (const key of keys) if ((await cluster.masterOf(slotOf(`${namespace}:{${key}}:v`))) === victim) onVictim.push(key);
      killedAt = Date.now();
      cluster.nodes.find((node) => node.port === victim)!.process.kill('SIGKILL');
    }
    await sleep(50);
  }
  const reads = (await reading).flat();
  expect(victim).toBeDefined();
  expect(reads.length).toBeGreaterThan(2_000);
  expect(reads.filter((r) => !r.ok)).toEqual([]);
  // Redis replicates asynchronously: a write the dying master acknowledged just before it died may never
  // reach the replica promoted in its place (Redis Cluster's documented write loss). Such writes are
  // not held against the readers: what Redis itself no longer has cannot be served.
  for (const key of onVictim) {
    const times = resolvedAt.get(key)!;
    times.forEach((t, run) => {
      if (t !== undefined && t > killedAt - 1_000 && t <= killedAt) delete times[run];
    });
  }
  expect(onVictim.length).toBeGreaterThan(0);
  expect(staleReads(reads, resolvedAt)).toEqual([]);
  // The writes kept landing on every key after the failover, and the readers kept up with them.
  for (const key of keys) {
    const last = reads.filter((r) => r.key === key && r.ok && r.value?.value !== 'computed').sort((a, b) => b.startedAt - a.startedAt)[0];
    expect(last.value!.run).toBeGreaterThan(run - 10);
  }
  await cluster.waitUntilHealthy(30_000);
  const reader = clusterCache(namespace, { l1: true });
  await untilMemoryHit(reader, keys[0]);
}, 120_000);

test('a cache created while a master is dead (mid-failover) connects once the failover is done', async () => {
  const victim = masterWithReplica();
  cluster.nodes.find((node) => node.port === victim)!.process.kill('SIGKILL');
  // node-redis would retry the dead master of the topology it first discovered for ever; the store starts
  // the discovery over instead, and finds the promoted replica.
  const late = clusterCache('l1-late', { l1: true });
  const started = Date.now();
  let wrote = false;
  for (let i = 0; !wrote && Date.now() - started < 30_000; i++) {
    wrote = await late.set(`k${i % 20}`, 'v').then(() => true, () => false);
    if (!wrote) await sleep(100);
  }
  expect(wrote).toBe(true);
  await cluster.waitUntilHealthy(30_000);
  await untilMemoryHit(late, 'k0');
}, 90_000);
