import { createClient, createCluster } from 'redis';
import { createCache, RedisUnavailableError, type Cache } from '../src';
import { startRedis } from '../support/embedded-redis';
import { freeClusterPorts, startCluster, type LocalCluster } from '../support/redis-cluster';

// Caches created before their Redis Cluster exists (the boot race of a fleet started with its Redis):
// calls are answered without the cache at once, and caching starts once the cluster is up, for a
// cluster herdless opens and for one the user passes in. Then, on that same cluster (one cluster per
// file: forming one takes many seconds), a user's cluster with `useReplicas: true`: values are read from
// the masters.

type Cluster = ReturnType<typeof createCluster>;

let ports: number[];
let rootNodes: { url: string }[];
let cluster: LocalCluster | undefined;
let admin: Cluster | undefined;
const caches: Cache[] = [];
const userClusters: Cluster[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

let owned: Cache;
let borrowed: Cache;
const bootErrors: unknown[] = [];

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  ports = await freeClusterPorts();
  rootNodes = ports.map((port) => ({ url: `redis://127.0.0.1:${port}` }));
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
  await Promise.all(userClusters.splice(0).map((user) => user.disconnect().catch(() => undefined)));
  await admin?.disconnect().catch(() => undefined);
  await cluster?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function track(cache: Cache, errors: unknown[] = []): Cache {
  cache.on('error', (error) => errors.push(error));
  caches.push(cache);
  return cache;
}

function userCluster(options: { useReplicas?: boolean } = {}): Cluster {
  const user = createCluster({ rootNodes, ...options });
  user.on('error', () => undefined);
  userClusters.push(user);
  return user;
}

/** Polls (fresh key each round) until a value computed once is then served from the cache, and is in Redis. */
async function expectCachingResumes(cache: Cache, namespace: string, withinMs = 20_000) {
  const started = Date.now();
  const deadline = started + withinMs;
  for (let round = 0; ; round++) {
    const key = `resume:${round}`;
    let runs = 0;
    const factory = () => `value ${++runs}`;
    const first = await cache.getOrSet(key, factory);
    const later = [await cache.getOrSet(key, factory), await cache.getOrSet(key, factory), await cache.get(key)];
    if (runs === 1 && later.every((value) => value === first)) {
      expect(first).toBe('value 1');
      expect(await admin!.get(`${namespace}:{${key}}:v`)).not.toBeNull();
      if (process.env.HERDLESS_DEBUG) console.log(`${namespace}: cached ${Date.now() - started} ms after the cluster was up, round ${round}`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`still not caching ${withinMs} ms after the cluster came up (runs: ${runs})`);
    await sleep(200);
  }
}

test('before the cluster exists, every call runs the function without the cache', async () => {
  owned = track(createCache({ redis: { cluster: { rootNodes } }, namespace: 'boot', commandTimeout: 300 }), bootErrors);
  // A cluster the user created, whose own connect() failed (nothing listens yet), passed in anyway.
  const user = userCluster();
  await expect(user.connect()).rejects.toThrow();
  borrowed = track(createCache({ redis: user, namespace: 'borrowed', commandTimeout: 300 }));
  for (const cache of [owned, borrowed]) {
    let runs = 0;
    for (let i = 1; i <= 3; i++) expect(await cache.getOrSet('k', () => ++runs)).toBe(i);
    expect(await cache.get('k')).toBeUndefined();
    expect(runs).toBe(3);
  }
  expect(bootErrors.some((error) => error instanceof RedisUnavailableError)).toBe(true);
});

test('until discovery succeeds, connect() is retried with a backoff, and close() stops it', async () => {
  // A server without cluster support: it accepts each attempt's connection and refuses CLUSTER SLOTS.
  const server = await startRedis();
  const counter = createClient({ url: server.url });
  await counter.connect();
  const connections = async () => Number(/total_connections_received:(\d+)/.exec(await counter.info('stats'))?.[1]);
  try {
    const cache = track(createCache({ redis: { cluster: { rootNodes: [{ url: server.url }] } }, commandTimeout: 300 }));
    const before = await connections();
    expect(await cache.getOrSet('k', () => 'uncached')).toBe('uncached');
    await sleep(1_000);
    const tried = (await connections()) - before;
    expect(tried).toBeGreaterThanOrEqual(3); // retried
    expect(tried).toBeLessThanOrEqual(10); // backing off (4 or 5 attempts in the first second), not spinning
    await cache.close();
    const closed = await connections();
    await sleep(1_500); // longer than the pause under way at close (at most 1.6 s)
    expect(await connections()).toBe(closed);
  } finally {
    await counter.quit();
    await server.stop();
  }
});

test('once the cluster is up, a cluster herdless opens caches again', async () => {
  let unformedRuns = 0;
  cluster = await startCluster({
    ports,
    // Nodes up, cluster not formed: discovery finds no slots. Held until the caches have tried a few times.
    beforeCreate: async (unformed) => {
      const slotsAsked = () => unformed.nodes.reduce((sum, node) => sum + Number(/cmdstat_cluster\|slots:calls=(\d+)/.exec(unformed.cli(node.port, 'info', 'commandstats'))?.[1] ?? 0), 0);
      for (let i = 0; i < 200 && slotsAsked() < 4; i++) await sleep(100);
      for (const cache of [owned, borrowed]) await cache.getOrSet('unformed', () => ++unformedRuns);
    },
  });
  expect(unformedRuns).toBe(2);
  admin = createCluster({ rootNodes });
  admin.on('error', () => undefined);
  await admin.connect();
  await expectCachingResumes(owned, 'boot');
}, 120_000);

test('and so does a cluster the user passed in (herdless connects it)', async () => {
  await expectCachingResumes(borrowed, 'borrowed');
});

test('useReplicas: true on a user cluster: values are read from the masters, so a read right after set() sees it', async () => {
  // Masters list their replicas in CLUSTER SLOTS only seconds after the replicas attached.
  const withReplicas = (port: number) => (JSON.parse(cluster!.cli(port, '--json', 'cluster', 'slots')) as unknown[][]).every((range) => range.length >= 4);
  for (let i = 0; i < 300 && !cluster!.nodes.every((node) => withReplicas(node.port)); i++) await sleep(100);
  const user = userCluster({ useReplicas: true });
  await user.connect();
  expect(user.replicas).toHaveLength(3); // node-redis would read from them
  const errors: unknown[] = [];
  const cache = track(createCache({ redis: user, namespace: 'replicas', commandTimeout: 300 }), errors);
  const keys = Array.from({ length: 20 }, (_, i) => `r${i}`);
  for (const key of keys) await cache.set(key, key.toUpperCase());
  const masters = await cluster!.masters();
  const replicas = cluster!.nodes.map((node) => node.port).filter((port) => !masters.includes(port));
  expect(replicas).toHaveLength(3);
  const gets = (port: number) => Number(/cmdstat_get:calls=(\d+)/.exec(cluster!.cli(port, 'info', 'commandstats'))?.[1] ?? 0);
  const replicaGets = () => replicas.reduce((sum, port) => sum + gets(port), 0);
  const masterGets = () => masters.reduce((sum, port) => sum + gets(port), 0);
  const [replicasBefore, mastersBefore] = [replicaGets(), masterGets()];
  for (let round = 0; round < 10; round++) {
    for (const key of keys) {
      expect(await cache.get(key)).toBe(key.toUpperCase());
      expect(await cache.getOrSet(key, () => 'recomputed')).toBe(key.toUpperCase());
    }
  }
  expect(replicaGets() - replicasBefore).toBe(0);
  expect(masterGets() - mastersBefore).toBeGreaterThanOrEqual(400);

  // Replicas that answer nothing (paused) do not hold up reads: every read after a write sees the write.
  const pauseMs = 2_000;
  const pausedUntil = Date.now() + pauseMs;
  for (const port of replicas) cluster!.cli(port, 'client', 'pause', String(pauseMs), 'ALL');
  try {
    for (let i = 0; i < 10 && Date.now() < pausedUntil - 500; i++) {
      const key = keys[i];
      await cache.set(key, i);
      expect(await cache.get(key)).toBe(i);
      await cache.delete(key);
      expect(await cache.get(key)).toBeUndefined();
      expect(await cache.getOrSet(key, () => 'after delete')).toBe('after delete');
    }
  } finally {
    await sleep(Math.max(0, pausedUntil - Date.now() + 100));
  }
  expect(errors).toEqual([]);
});

test('nothing was rejected without a handler', () => {
  expect(unhandled).toEqual([]);
});
