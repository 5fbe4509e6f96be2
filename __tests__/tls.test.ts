import { createClient, createCluster } from 'redis';
import { createCache, type Cache, type CacheOptions, type RedisOption } from '../src';
import { slotOf } from '../src/store/slot';
import { makeCertificates, startTlsCluster, startTlsRedis, tlsUnavailable, type Certificates, type TlsCluster, type TlsRedis } from '../support/tls-redis';
import { startTlsFleet, type TlsFleet } from './fixtures/tls-fleet';
import { richValue, valueOf } from './fixtures/values';

// herdless over TLS (rediss://): the connection it opens, the subscriber connection it duplicates from it
// (wake-ups and the memory tier), a client the application owns, a server requiring client certificates,
// and a cluster whose nodes speak TLS to clients and to each other. Every server listens on a TLS port
// only (`--port 0`): a connection that works is a TLS connection.

let certs: Certificates;
/** A second CA, which did not sign the servers' certificate. */
let otherCa: Certificates;
let server: TlsRedis;
let admin: ReturnType<typeof createClient>;
let fleet: TlsFleet | undefined;
const caches: Cache[] = [];
let count = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const unavailable = tlsUnavailable();
  if (unavailable) throw new Error(`TLS tests cannot run here: ${unavailable}`);
  certs = makeCertificates();
  otherCa = makeCertificates('another');
  server = await startTlsRedis(certs);
  admin = createClient({ url: server.url, socket: { tls: true, ca: certs.ca } });
  await admin.connect();
}, 30_000);

afterEach(async () => {
  fleet?.kill();
  fleet = undefined;
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
  certs?.remove();
  otherCa?.remove();
});

/** What an application passes: the rediss:// URL and the CA that signed the server's certificate. */
const tlsOptions = (): RedisOption => ({ url: server.url, socket: { tls: true, ca: certs.ca } });

function cache(namespace: string, options: CacheOptions = {}): { cache: Cache; errors: Error[] } {
  const errors: Error[] = [];
  const created = createCache({ redis: tlsOptions(), namespace, ...options });
  created.on('error', (error) => errors.push(error as Error));
  caches.push(created);
  return { cache: created, errors };
}

/** Reads until the memory tier answers (its subscription over TLS heard its own echo), or gives up. */
async function untilMemoryHit(target: Cache, key: string): Promise<void> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  target.on('hit', listener);
  try {
    for (const end = Date.now() + 10_000; tier !== 'memory' && Date.now() < end; ) {
      await target.getOrSet(key, () => 'never');
      await sleep(20);
    }
  } finally {
    target.off('hit', listener);
  }
  expect(tier).toBe('memory');
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const getCalls = async (client: { info(section: string): Promise<string> }) => Number(/cmdstat_get:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);

test('the servers listen on TLS only: no plain-text port', async () => {
  expect(await admin.configGet('port')).toEqual({ port: '0' });
  expect(await admin.configGet('tls-port')).toEqual({ 'tls-port': String(server.port) });
});

test('over rediss://, a herd of three processes computes once, woken by pub/sub over TLS, and every caller gets the value exactly', async () => {
  const namespace = `herd${++count}`;
  fleet = await startTlsFleet(3, { redis: tlsOptions(), counter: { url: server.url, socket: { tls: true, ca: certs.ca } }, namespace, key: 'report', callers: 4, delayMs: 500, leaseTtl: 10_000, kind: 'rich' });
  const results = (await fleet.done).flatMap((r) => r ?? []);
  expect(results).toHaveLength(12);
  for (const result of results) {
    expect(result.ok).toBe(true);
    expect(result.value).toEqual(richValue());
    // The lease lasts 10 s: a waiter answered within a few seconds was woken by the leader's message on the
    // subscriber connection (TLS, like every connection here), not by the lease running out.
    expect(result.ms).toBeLessThan(5_000);
  }
  expect(Number(await admin.get(`runs:${namespace}`))).toBe(1);
  expect(await admin.exists(`${namespace}:{report}:v`)).toBe(1);
  expect(await admin.exists(`${namespace}:{report}:lease`)).toBe(0);
});

test('values round-trip over TLS: written by one cache, read back exactly by another, kept by Redis with their expiry', async () => {
  const namespace = `values${++count}`;
  const { cache: writer, errors } = cache(namespace);
  const { cache: reader } = cache(namespace);
  await writer.set('rich', richValue(), { ttl: '1m' });
  expect(await reader.get('rich')).toEqual(richValue());
  for (const kind of ['zero', 'empty', 'false', 'null', 'nan'] as const) {
    expect(await writer.getOrSet(kind, () => valueOf(kind))).toEqual(valueOf(kind));
    expect(await reader.getOrSet(kind, () => 'recomputed')).toEqual(valueOf(kind));
  }
  const pttl = await admin.pTTL(`${namespace}:{rich}:v`);
  expect(pttl).toBeGreaterThan(50_000);
  expect(pttl).toBeLessThanOrEqual(60_000);
  expect(await reader.delete('rich')).toBe(true);
  expect(await admin.exists(`${namespace}:{rich}:v`)).toBe(0);
  expect(errors).toEqual([]);
});

test("the memory tier over TLS: its subscriber connection, duplicated by herdless, carries TLS too; hits stay in memory and a write elsewhere drops them", async () => {
  const namespace = `l1${++count}`;
  const { cache: reader, errors } = cache(namespace, { l1: true });
  const { cache: writer } = cache(namespace, { l1: true });
  expect(await reader.getOrSet('k', () => 'v1')).toBe('v1');
  await untilMemoryHit(reader, 'k');
  // Trust needs the echo heard on the subscriber connection: so that connection is up, and over TLS.
  const subscribers = (await admin.sendCommand<string>(['CLIENT', 'LIST', 'TYPE', 'pubsub'])).trim().split('\n');
  expect(subscribers.filter((line) => / sub=[1-9]/.test(line)).length).toBeGreaterThanOrEqual(1);
  const before = await getCalls(admin);
  for (let i = 0; i < 20; i++) expect(await reader.getOrSet('k', () => 'never')).toBe('v1');
  expect(await getCalls(admin)).toBe(before); // answered from memory: no GET reached Redis
  await writer.set('k', 'v2');
  await until(async () => (await reader.getOrSet('k', () => 'never')) === 'v2', 'the invalidation to reach the reader');
  await writer.delete('k');
  await until(async () => (await reader.getOrSet('k', () => 'v3')) === 'v3', 'the delete to reach the reader');
  expect(errors).toEqual([]);
});

test('a TLS client the application owns: the subscriber herdless duplicates from it is TLS too, and close() leaves it open', async () => {
  const namespace = `owned${++count}`;
  const own = createClient({ url: server.url, socket: { tls: true, ca: certs.ca } });
  await own.connect();
  try {
    const errors: unknown[] = [];
    const owned = createCache({ redis: own, namespace, l1: true });
    owned.on('error', (error) => errors.push(error));
    caches.push(owned);
    let runs = 0;
    const values = await Promise.all(Array.from({ length: 5 }, () => owned.getOrSet('k', async () => ++runs)));
    expect(values).toEqual([1, 1, 1, 1, 1]);
    await untilMemoryHit(owned, 'k');
    await owned.close();
    expect(own.isReady).toBe(true);
    expect(await own.get(`${namespace}:{k}:v`)).not.toBeNull();
    expect(errors).toEqual([]);
  } finally {
    await own.quit();
  }
});

test('a server that requires client certificates: with one, both the command and the subscriber connections are accepted; without one, calls are answered without the cache', async () => {
  const mutual = await startTlsRedis(certs, { authClients: 'yes' });
  try {
    const namespace = `mtls${++count}`;
    const errors: unknown[] = [];
    const withCert = createCache({ redis: { url: mutual.url, socket: { tls: true, ca: certs.ca, cert: certs.cert, key: certs.key } }, namespace, l1: true });
    withCert.on('error', (error) => errors.push(error));
    caches.push(withCert);
    expect(await withCert.getOrSet('k', () => 'v')).toBe('v');
    await untilMemoryHit(withCert, 'k');
    expect(errors).toEqual([]);

    const refused: Error[] = [];
    const withoutCert = createCache({ redis: { url: mutual.url, socket: { tls: true, ca: certs.ca } }, namespace, commandTimeout: 500 });
    withoutCert.on('error', (error) => refused.push(error as Error));
    caches.push(withoutCert);
    let runs = 0;
    expect(await withoutCert.getOrSet('other', () => ++runs)).toBe(1);
    expect(await withoutCert.getOrSet('other', () => ++runs)).toBe(2); // nothing was cached
    // TLS 1.3: the client's handshake completes before the server checks for a certificate, so what the
    // client sees is the server closing the connection.
    expect(refused.some((error) => /ECONNRESET|certificate|alert/i.test(`${error.message} ${(error.cause as Error | undefined)?.message}`))).toBe(true);
    expect(mutual.cli('exists', `${namespace}:{other}:v`).trim()).toBe('0');
    await withCert.close();
    await withoutCert.close();
  } finally {
    await mutual.stop();
  }
});

test.each([
  ['without a CA (the system roots do not know the test CA)', () => ({ url: server.url })],
  ['with a CA that did not sign the server certificate', () => ({ url: server.url, socket: { tls: true as const, ca: otherCa.ca } })],
])('%s: a certificate error on the error event, and every call answered without the cache', async (_name, redis) => {
  const namespace = `untrusted${++count}`;
  const errors: Error[] = [];
  const untrusted = createCache({ redis: redis(), namespace, commandTimeout: 500 });
  untrusted.on('error', (error) => errors.push(error as Error));
  caches.push(untrusted);
  let runs = 0;
  expect(await untrusted.getOrSet('k', () => ++runs)).toBe(1);
  expect(await untrusted.getOrSet('k', () => ++runs)).toBe(2);
  const messages = errors.map((error) => `${error.message} ${(error.cause as Error | undefined)?.message ?? ''}`);
  expect(messages.some((message) => /certificate/i.test(message))).toBe(true);
  expect(errors.some((error) => (error as { code?: string }).code === 'ERR_HERDLESS_REDIS_UNAVAILABLE')).toBe(true);
  expect(await admin.exists(`${namespace}:{k}:v`)).toBe(0);
});

describe('a cluster over TLS: 3 masters, TLS to clients, on the cluster bus and for replication', () => {
  let cluster: TlsCluster;
  let clusterAdmin: ReturnType<typeof createCluster>;

  beforeAll(async () => {
    cluster = await startTlsCluster(certs, { masters: 3 });
    clusterAdmin = createCluster({ rootNodes: cluster.rootNodes, defaults: { socket: { tls: true, ca: certs.ca } } });
    clusterAdmin.on('error', () => undefined);
    await clusterAdmin.connect();
  }, 60_000);

  afterAll(async () => {
    await clusterAdmin?.disconnect().catch(() => undefined);
    await cluster?.stop();
  });

  /**
   * node-redis gives a root node's rediss:// only to that root node: the nodes it discovers are made from
   * `defaults`, which must carry the TLS options too.
   */
  const clusterOptions = (): RedisOption => ({ cluster: { rootNodes: cluster.rootNodes, defaults: { socket: { tls: true, ca: certs.ca } } } });

  function clusterCache(namespace: string, options: CacheOptions = {}): { cache: Cache; errors: Error[] } {
    const errors: Error[] = [];
    const created = createCache({ redis: clusterOptions(), namespace, ...options });
    created.on('error', (error) => errors.push(error as Error));
    caches.push(created);
    return { cache: created, errors };
  }

  /** One key per master, found by slot. */
  function keysOnEveryMaster(namespace: string): string[] {
    const keys = new Map<string, string>();
    for (let i = 0; keys.size < cluster.ports.length; i++) {
      const master = clusterAdmin.slots[slotOf(`${namespace}:{k${i}}:v`)].master.address;
      if (!keys.has(master)) keys.set(master, `k${i}`);
    }
    return [...keys.values()];
  }

  test('every node: TLS port only, cluster bus and replication over TLS', () => {
    for (const port of cluster.ports) {
      expect(cluster.cli(port, 'config', 'get', 'port').split('\n')[1]).toBe('0');
      expect(cluster.cli(port, 'config', 'get', 'tls-cluster').split('\n')[1]).toBe('yes');
      expect(cluster.cli(port, 'config', 'get', 'tls-replication').split('\n')[1]).toBe('yes');
      expect(cluster.cli(port, 'cluster', 'info')).toMatch(/cluster_state:ok/);
    }
  });

  test('three caches: a herd on a key of every master computes once per key, woken by sharded pub/sub over TLS; values round-trip', async () => {
    const namespace = `cherd${++count}`;
    const made = [clusterCache(namespace, { lease: { ttl: 10_000 } }), clusterCache(namespace, { lease: { ttl: 10_000 } }), clusterCache(namespace, { lease: { ttl: 10_000 } })];
    const keys = keysOnEveryMaster(namespace);
    const started = Date.now();
    const answers = await Promise.all(
      keys.flatMap((key) =>
        made.flatMap(({ cache: c }) =>
          [0, 1].map(() => c.getOrSet(key, async () => {
            await clusterAdmin.incr(`runs:{${namespace}:${key}}`);
            await sleep(400);
            return { key, value: richValue() };
          })),
        ),
      ),
    );
    // The lease lasts 10 s: every waiter was woken by its leader's SPUBLISH, over TLS.
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const [i, answer] of answers.entries()) expect(answer).toEqual({ key: keys[Math.floor(i / 6)], value: richValue() });
    for (const key of keys) expect(Number(await clusterAdmin.get(`runs:{${namespace}:${key}}`))).toBe(1);
    for (const key of keys) expect(await made[2].cache.get(key)).toEqual({ key, value: richValue() });
    for (const { errors } of made) expect(errors).toEqual([]);
  });

  test('the memory tier over a TLS cluster: trusted after its echo, hits from memory, a write in another cache drops the entry', async () => {
    const namespace = `cl1${++count}`;
    const { cache: reader, errors } = clusterCache(namespace, { l1: true });
    const { cache: writer } = clusterCache(namespace, { l1: true });
    for (const key of keysOnEveryMaster(namespace)) {
      expect(await reader.getOrSet(key, () => 'v1')).toBe('v1');
      await untilMemoryHit(reader, key);
      await writer.set(key, 'v2');
      await until(async () => (await reader.getOrSet(key, () => 'never')) === 'v2', `the invalidation of ${key} to reach the reader`);
    }
    expect(errors).toEqual([]);
  });

  test('rootNodes over rediss:// without TLS in defaults: the discovered nodes are not reached, and calls are answered without the cache', async () => {
    const namespace = `cnodefaults${++count}`;
    const errors: Error[] = [];
    const partial = createCache({ redis: { cluster: { rootNodes: cluster.rootNodes.map(({ url }) => ({ url, socket: { tls: true as const, ca: certs.ca } })) } }, namespace, commandTimeout: 500 });
    partial.on('error', (error) => errors.push(error as Error));
    caches.push(partial);
    let runs = 0;
    expect(await partial.getOrSet('k', () => ++runs)).toBe(1);
    expect(await partial.getOrSet('k', () => ++runs)).toBe(2);
    // The discovered nodes' connections speak plain text to TLS ports: the server resets them, or they hang.
    expect(errors.some((error) => /ECONNRESET|no reply within/.test(error.message))).toBe(true);
    expect(await clusterAdmin.exists(`${namespace}:{k}:v`)).toBe(0);
  });
});
