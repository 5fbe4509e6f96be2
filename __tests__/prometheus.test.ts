import diagnostics from 'node:diagnostics_channel';
import { Counter, register, Registry } from 'prom-client';
import { collectMetrics } from '../prometheus';
import { createCache, InvalidOptionError, type Cache, type CacheOptions } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';

// herdless/prometheus on a real prom-client Registry, read back the way Prometheus reads it: the text
// exposition format, parsed line by line.

let redis: EmbeddedRedis;
const open: Cache[] = [];
let count = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  await redis.stop();
});

function make(name: string, options: CacheOptions = {}, namespace = `${name}-${++count}`): Cache {
  const cache = createCache({ redis: { url: redis.url }, namespace, ...options });
  cache.on('error', () => undefined);
  open.push(cache);
  return cache;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  /** `# TYPE` lines: metric name to type. */
  types: Map<string, string>;
}

/** The text exposition format: `# TYPE name type` and `name{label="value",...} value` lines. */
function parse(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

async function scrape(registry: Registry): Promise<Exposition> {
  return parse(await registry.metrics());
}

/** The sum of the samples of `name` whose labels match (undefined: the label is absent). */
function total(exposition: Exposition, name: string, wanted: Record<string, string | undefined>): number {
  return exposition.samples
    .filter((sample) => sample.name === name && Object.entries(wanted).every(([label, value]) => sample.labels[label] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function untilMemoryHit(cache: Cache, key: string): Promise<void> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  cache.on('hit', listener);
  try {
    await until(async () => (await cache.getOrSet(key, () => 'never'), tier === 'memory'), `a memory hit of '${key}'`);
  } finally {
    cache.off('hit', listener);
  }
}

/** A registry with herdless' metrics for the length of `body`. */
async function collecting(options: Omit<Parameters<typeof collectMetrics>[0] & object, 'registry'>, body: (registry: Registry) => Promise<void>): Promise<void> {
  const registry = new Registry();
  const collection = collectMetrics({ registry, ...options });
  try {
    await body(registry);
  } finally {
    collection.stop();
  }
}

test('requests by outcome and tier: a lead, hits from Redis and memory, a herd over two caches, with the type and label names Prometheus expects', async () => {
  await collecting({}, async (registry) => {
    const cache = make('hits', { l1: true });
    await cache.getOrSet('k', async () => (await sleep(50), 'v'));
    await cache.getOrSet('k', () => 'never', { l1: false });
    await untilMemoryHit(cache, 'k');
    const namespace = `herd-${++count}`;
    const herd = [make('herd', {}, namespace), make('herd', {}, namespace)];
    await Promise.all(herd.map((member) => member.get('warm-up')));
    let runs = 0;
    const load = async () => (runs++, await sleep(200), 'v');
    await Promise.all(herd.flatMap((member) => Array.from({ length: 5 }, () => member.getOrSet('k', load))));
    expect(runs).toBe(1);

    const scraped = await scrape(registry);
    expect(scraped.types.get('herdless_requests_total')).toBe('counter');
    const stats = cache.stats();
    expect(total(scraped, 'herdless_requests_total', { namespace: cache.namespace, outcome: 'lead', tier: undefined })).toBe(1);
    expect(total(scraped, 'herdless_requests_total', { namespace: cache.namespace, outcome: 'hit', tier: 'redis' })).toBe(stats.hits.redis);
    expect(total(scraped, 'herdless_requests_total', { namespace: cache.namespace, outcome: 'hit', tier: 'memory' })).toBe(stats.hits.memory);
    expect(stats.hits.memory).toBeGreaterThanOrEqual(1);
    expect(total(scraped, 'herdless_requests_total', { namespace, outcome: 'lead' })).toBe(1);
    expect(total(scraped, 'herdless_requests_total', { namespace, outcome: 'wait' })).toBe(1);
    expect(total(scraped, 'herdless_requests_total', { namespace, outcome: 'joined' })).toBe(8);
    expect(total(scraped, 'herdless_requests_total', { namespace })).toBe(10);
    expect(total(scraped, 'herdless_leases_total', { namespace, outcome: 'lead', operation: 'getOrSet' })).toBe(1);
    expect(total(scraped, 'herdless_leases_total', { namespace })).toBe(1);
    // No key_group label without a keyGroup, and no label holds a key.
    const labelNames = new Set(scraped.samples.filter((sample) => sample.name.startsWith('herdless_')).flatMap((sample) => Object.keys(sample.labels)));
    expect([...labelNames].sort()).toEqual(['le', 'namespace', 'operation', 'outcome', 'tier']);
    expect(scraped.samples.some((sample) => Object.values(sample.labels).includes('k'))).toBe(false);
  });
});

test('durations are histograms in seconds: _bucket (le), _sum and _count, on the default buckets or given ones', async () => {
  await collecting({}, async (registry) => {
    const namespace = `durations-${++count}`;
    const herd = [make('durations', {}, namespace), make('durations', {}, namespace)];
    await Promise.all(herd.map((member) => member.get('warm-up')));
    await Promise.all(herd.map((member) => member.getOrSet('k', async () => (await sleep(150), 'v'))));
    const scraped = await scrape(registry);
    expect(scraped.types.get('herdless_factory_duration_seconds')).toBe('histogram');
    expect(scraped.types.get('herdless_wait_duration_seconds')).toBe('histogram');
    const factory = { namespace, operation: 'getOrSet', outcome: 'lead' };
    expect(total(scraped, 'herdless_factory_duration_seconds_count', factory)).toBe(1);
    const seconds = total(scraped, 'herdless_factory_duration_seconds_sum', factory);
    expect(seconds).toBeGreaterThanOrEqual(0.14);
    expect(seconds).toBeLessThan(10);
    expect(total(scraped, 'herdless_factory_duration_seconds_bucket', { ...factory, le: '0.1' })).toBe(0);
    expect(total(scraped, 'herdless_factory_duration_seconds_bucket', { ...factory, le: '60' })).toBe(1);
    expect(total(scraped, 'herdless_factory_duration_seconds_bucket', { ...factory, le: '+Inf' })).toBe(1);
    expect(total(scraped, 'herdless_wait_duration_seconds_count', { namespace, outcome: 'wait' })).toBe(1);
    expect(total(scraped, 'herdless_wait_duration_seconds_sum', { namespace, outcome: 'wait' })).toBeGreaterThan(0.05);
  });
  await collecting({ buckets: [0.5, 2] }, async (registry) => {
    const cache = make('buckets');
    await cache.getOrSet('k', () => 'v');
    const les = (await scrape(registry)).samples.filter((sample) => sample.name === 'herdless_factory_duration_seconds_bucket').map((sample) => sample.labels.le);
    expect(les).toEqual(['0.5', '2', '+Inf']);
  });
});

test('grace and refresh: stale served, refreshes by outcome, the refresh\'s function time and lease', async () => {
  await collecting({}, async (registry) => {
    const cache = make('grace', { ttl: 300, grace: '1h', earlyRefresh: false });
    await cache.getOrSet('k', () => 'v1');
    await sleep(400);
    expect(await cache.getOrSet('k', async () => (await sleep(20), 'v2'))).toBe('v1');
    await until(async () => total(await scrape(registry), 'herdless_refreshes_total', { namespace: cache.namespace }) === 1, 'the refresh');
    const scraped = await scrape(registry);
    expect(total(scraped, 'herdless_requests_total', { namespace: cache.namespace, outcome: 'stale', tier: 'redis' })).toBe(1);
    expect(total(scraped, 'herdless_stale_served_total', { namespace: cache.namespace, tier: 'redis' })).toBe(1);
    expect(total(scraped, 'herdless_refreshes_total', { namespace: cache.namespace, outcome: 'refreshed' })).toBe(1);
    expect(total(scraped, 'herdless_factory_duration_seconds_count', { namespace: cache.namespace, operation: 'refresh', outcome: 'refreshed' })).toBe(1);
    expect(total(scraped, 'herdless_leases_total', { namespace: cache.namespace, operation: 'refresh', outcome: 'lead' })).toBe(1);
  });
});

test('uncached, timeout and refused calls, and Redis errors by type', async () => {
  await collecting({}, async (registry) => {
    const down = make('down', { redis: { url: 'redis://127.0.0.1:1' }, commandTimeout: 200 });
    expect(await down.getOrSet('k', () => 'computed')).toBe('computed');
    const slow = make('timeout');
    await expect(slow.getOrSet('k', async () => (await sleep(500), 'late'), { hardTimeout: 100 })).rejects.toMatchObject({ code: 'ERR_HERDLESS_TIMEOUT' });
    const closed = make('closed');
    await closed.close();
    await expect(closed.getOrSet('k', () => 1)).rejects.toMatchObject({ code: 'ERR_HERDLESS_CLOSED' });
    await until(async () => total(await scrape(registry), 'herdless_redis_errors_total', { namespace: down.namespace }) >= 1, 'a Redis error');

    const scraped = await scrape(registry);
    expect(total(scraped, 'herdless_requests_total', { namespace: down.namespace, outcome: 'uncached' })).toBe(1);
    expect(total(scraped, 'herdless_factory_duration_seconds_count', { namespace: down.namespace, outcome: 'uncached' })).toBe(1);
    expect(total(scraped, 'herdless_requests_total', { namespace: slow.namespace, outcome: 'timeout' })).toBe(1);
    // Read from the caches' counters: a call refused before it started is no request (keyGroup's tracing counts it).
    expect(total(scraped, 'herdless_requests_total', { namespace: closed.namespace })).toBe(0);
    const errors = scraped.samples.filter((sample) => sample.name === 'herdless_redis_errors_total' && sample.labels.namespace === down.namespace);
    expect(errors.every((sample) => sample.labels.error_type !== undefined && sample.labels.error_type !== '')).toBe(true);
    await until(async () => (await slow.get('k')) === 'late', 'the timed-out computation to commit');
  });
});

test('the memory tier: entries and bytes gauges, evictions counter, read from the cache at each scrape', async () => {
  await collecting({}, async (registry) => {
    const cache = make('l1', { l1: { maxEntries: 2 } });
    for (let i = 0; i < 5; i++) {
      await cache.getOrSet(`k${i}`, () => `value ${i}`);
      await untilMemoryHit(cache, `k${i}`);
    }
    const memory = cache.stats().memory!;
    expect(memory).toMatchObject({ entries: 2, evictions: 3 });
    const scraped = await scrape(registry);
    expect(scraped.types.get('herdless_l1_entries')).toBe('gauge');
    expect(scraped.types.get('herdless_l1_bytes')).toBe('gauge');
    expect(scraped.types.get('herdless_l1_evictions_total')).toBe('counter');
    expect(total(scraped, 'herdless_l1_entries', { namespace: cache.namespace })).toBe(2);
    expect(total(scraped, 'herdless_l1_bytes', { namespace: cache.namespace })).toBe(memory.bytes);
    expect(total(scraped, 'herdless_l1_evictions_total', { namespace: cache.namespace })).toBe(3);
    await cache.delete('k4'); // an invalidation is no eviction
    const after = await scrape(registry);
    expect(total(after, 'herdless_l1_entries', { namespace: cache.namespace })).toBe(1);
    expect(total(after, 'herdless_l1_evictions_total', { namespace: cache.namespace })).toBe(3);
  });
});

test('keyGroup adds a key_group label; a prefix renames every metric; every open cache is reported from its creation, called or not', async () => {
  const idle = make('idle', { l1: true });
  await collecting({ prefix: 'app_cache_', keyGroup: (key) => key.split(':')[0] }, async (registry) => {
    const cache = make('grouped');
    await cache.getOrSet('user:1', () => 1);
    await cache.getOrSet('user:1', () => 1);
    await cache.getOrSet('order:7', () => 7);
    const scraped = await scrape(registry);
    expect(scraped.samples.some((sample) => sample.name.startsWith('herdless_'))).toBe(false);
    expect(total(scraped, 'app_cache_requests_total', { namespace: cache.namespace, key_group: 'user' })).toBe(2);
    expect(total(scraped, 'app_cache_requests_total', { namespace: cache.namespace, key_group: 'order', outcome: 'lead' })).toBe(1);
    expect(total(scraped, 'app_cache_leases_total', { namespace: cache.namespace, key_group: 'user' })).toBe(1);
    expect(scraped.samples.find((sample) => sample.name === 'app_cache_l1_entries' && sample.labels.namespace === idle.namespace)?.value).toBe(0);
  });
});

test('collectMetrics twice on one registry is refused with InvalidOptionError, and allowed again after stop(), which removes the metrics', async () => {
  const registry = new Registry();
  const first = collectMetrics({ registry });
  expect(() => collectMetrics({ registry })).toThrow(InvalidOptionError);
  expect(() => collectMetrics({ registry })).toThrow(expect.objectContaining({ option: 'registry', message: expect.stringContaining("'herdless_requests_total'") }));
  const other = collectMetrics({ registry, prefix: 'other_' }); // another prefix does not clash
  other.stop();
  // A metric of the application's with one of these names is refused the same way.
  const own = new Registry();
  new Counter({ name: 'herdless_leases_total', help: 'the application\'s own', registers: [own] });
  expect(() => collectMetrics({ registry: own })).toThrow(expect.objectContaining({ option: 'registry' }));
  expect(own.getSingleMetric('herdless_requests_total')).toBeUndefined(); // nothing half-registered

  const cache = make('stop');
  await cache.getOrSet('k', () => 1);
  expect(total(await scrape(registry), 'herdless_requests_total', { namespace: cache.namespace })).toBe(1);
  first.stop();
  first.stop();
  expect((await registry.metrics()).trim()).toBe('');
  await cache.getOrSet('k', () => 1);
  const again = collectMetrics({ registry });
  try {
    await cache.getOrSet('k', () => 1);
    // Requests are the cache's own counts since its creation, whenever the collection started.
    expect(total(await scrape(registry), 'herdless_requests_total', { namespace: cache.namespace })).toBe(3);
  } finally {
    again.stop();
  }
  // Stopped, the collections leave no subscriber behind (herdless then builds nothing for the channels).
  for (const name of ['herdless:getOrSet', 'herdless:refresh']) expect(diagnostics.tracingChannel(name).hasSubscribers).toBe(false);
  expect(diagnostics.hasSubscribers('herdless:error')).toBe(false);
});

test("without a registry, prom-client's global register", () => {
  const collection = collectMetrics();
  try {
    expect(register.getSingleMetric('herdless_requests_total')).toBeDefined();
    expect(() => collectMetrics()).toThrow(expect.objectContaining({ option: 'registry' }));
  } finally {
    collection.stop();
  }
  expect(register.getSingleMetric('herdless_requests_total')).toBeUndefined();
});

test('bad options are refused with InvalidOptionError naming the option', () => {
  for (const [options, option] of [
    [{ registry: {} }, 'registry'],
    [{ prefix: '1x' }, 'prefix'],
    [{ prefix: 'a-b' }, 'prefix'],
    [{ buckets: [] }, 'buckets'],
    [{ buckets: [1, 0.5] }, 'buckets'],
    [{ keyGroup: 42 }, 'keyGroup'],
    [{ caches: 'all' }, 'caches'],
    [{ registery: new Registry() }, 'registery'],
  ] as const) {
    expect(() => collectMetrics(options as never)).toThrow(expect.objectContaining({ option }));
  }
});
