import diagnostics from 'node:diagnostics_channel';
import { context, SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { DataPointType, MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'redis';
import { instrument, type Instrumentation } from '../otel';
import { createCache, InvalidOptionError, type Cache, type CacheOptions } from '../src';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';

// herdless/otel against OpenTelemetry's own SDK: a MeterProvider read by a manual MetricReader, a
// BasicTracerProvider exporting to memory, and AsyncLocalStorage carrying the active context. Each test
// has a namespace of its own and reads only its data points (the metrics are cumulative for the file).

/** A reader collected on demand. */
class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One SDK setup: metrics, spans, and what was recorded. */
function sdk() {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  return { reader, meterProvider, spans, tracerProvider };
}

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
const contextManager = new AsyncLocalStorageContextManager();
const main = sdk();
const tracer = main.tracerProvider.getTracer('test');
let telemetry: Instrumentation;
const open: Cache[] = [];
/** Every key a test passed: no attribute may hold one (without a keyGroup). */
const keysUsed = new Set<string>();
let count = 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  telemetry = instrument({ meterProvider: main.meterProvider, tracerProvider: main.tracerProvider });
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((cache) => cache.close()));
});

afterAll(async () => {
  telemetry.stop();
  await admin.quit();
  await redis.stop();
  await Promise.all([main.meterProvider.shutdown(), main.tracerProvider.shutdown()]);
  context.disable();
});

function make(name: string, options: CacheOptions = {}, namespace = `${name}-${++count}`): Cache {
  const cache = createCache({ redis: { url: redis.url }, namespace, ...options });
  cache.on('error', () => undefined);
  open.push(cache);
  return cache;
}

/** getOrSet, remembering its key. */
function call<T>(cache: Cache, key: string, factory: () => T, options?: Parameters<Cache['getOrSet']>[2]) {
  keysUsed.add(key);
  return cache.getOrSet(key, factory, options);
}

async function metricsOf(reader: MetricReader): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

async function metric(name: string, reader: MetricReader = main.reader): Promise<MetricData | undefined> {
  return (await metricsOf(reader)).find((data) => data.descriptor.name === name);
}

/** Does a data point have these attributes (undefined: the attribute is absent)? */
function matches(attributes: Attributes, wanted: Record<string, string | undefined>): boolean {
  return Object.entries(wanted).every(([name, value]) => attributes[name] === value);
}

/** The sum of a counter's data points with these attributes. */
async function sum(name: string, wanted: Record<string, string | undefined>, reader: MetricReader = main.reader): Promise<number> {
  const data = await metric(name, reader);
  if (data === undefined) return 0;
  return (data.dataPoints as DataPoint<number>[]).filter((point) => matches(point.attributes, wanted)).reduce((total, point) => total + point.value, 0);
}

/** A histogram's data points with these attributes, merged: how many values, and their sum. */
async function histogram(name: string, wanted: Record<string, string | undefined>, reader: MetricReader = main.reader): Promise<{ count: number; sum: number; unit: string | undefined }> {
  const data = await metric(name, reader);
  if (data === undefined) return { count: 0, sum: 0, unit: undefined };
  expect(data.dataPointType).toBe(DataPointType.HISTOGRAM);
  const points = (data.dataPoints as DataPoint<Histogram>[]).filter((point) => matches(point.attributes, wanted));
  return { count: points.reduce((n, point) => n + point.value.count, 0), sum: points.reduce((n, point) => n + (point.value.sum ?? 0), 0), unit: data.descriptor.unit };
}

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !(await condition()); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Calls until the memory tier answers (it trusts its subscription once its first echo is back); returns the calls made. */
async function untilMemoryHit(cache: Cache, key: string): Promise<number> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  cache.on('hit', listener);
  let calls = 0;
  try {
    await until(async () => {
      calls++;
      await call(cache, key, () => 'never');
      return tier === 'memory';
    }, `a memory hit of '${key}'`);
  } finally {
    cache.off('hit', listener);
  }
  return calls;
}

function herdlessSpans(exporter: InMemorySpanExporter, namespace: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name.startsWith('herdless.') && span.attributes['herdless.namespace'] === namespace);
}

const ns = (cache: Cache) => ({ 'herdless.namespace': cache.namespace });

test('hits from Redis and from memory: requests by outcome and tier, the leader\'s function time in seconds, its lease', async () => {
  const cache = make('hits', { l1: true });
  expect(await call(cache, 'k', async () => (await sleep(50), 'v'))).toBe('v');
  expect(await call(cache, 'k', () => 'never', { l1: false })).toBe('v');
  const calls = 2 + (await untilMemoryHit(cache, 'k'));
  const stats = cache.stats();

  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'lead', 'herdless.tier': undefined })).toBe(1);
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'hit', 'herdless.tier': 'redis' })).toBe(stats.hits.redis);
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'hit', 'herdless.tier': 'memory' })).toBe(stats.hits.memory);
  expect(stats.hits.memory).toBeGreaterThanOrEqual(1);
  expect(stats.hits.redis).toBeGreaterThanOrEqual(1);
  expect(await sum('herdless.requests', ns(cache))).toBe(calls);
  expect((await metric('herdless.requests'))?.descriptor.unit).toBe('{request}');

  const factory = await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.operation': 'getOrSet', 'herdless.outcome': 'lead' });
  expect(factory.unit).toBe('s');
  expect(factory.count).toBe(1);
  expect(factory.sum).toBeGreaterThanOrEqual(0.045); // 50 ms, in seconds
  expect(factory.sum).toBeLessThan(5);
  expect(await histogram('herdless.factory.duration', ns(cache))).toMatchObject({ count: 1 }); // hits ran nothing

  expect(await sum('herdless.leases', { ...ns(cache), 'herdless.lease.outcome': 'lead', 'herdless.operation': 'getOrSet' })).toBe(1);
  expect(await sum('herdless.leases', ns(cache))).toBe(1);
  expect((await metric('herdless.leases'))?.descriptor.unit).toBe('{lease}');
});

test('a herd over two caches (processes): one lead, one wait (timed in seconds), the rest joined; the function ran once', async () => {
  const namespace = `herd-${++count}`;
  const caches = [make('herd', {}, namespace), make('herd', {}, namespace)];
  await Promise.all(caches.map((cache) => cache.get('warm-up')));
  let runs = 0;
  const load = async () => {
    runs++;
    await sleep(200);
    return 'v';
  };
  const values = await Promise.all(caches.flatMap((cache) => Array.from({ length: 5 }, () => call(cache, 'k', load))));
  expect(values).toEqual(Array(10).fill('v'));
  expect(runs).toBe(1);
  const attributes = { 'herdless.namespace': namespace };
  expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'lead' })).toBe(1);
  expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'wait' })).toBe(1);
  expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'joined' })).toBe(8);
  expect(await sum('herdless.requests', attributes)).toBe(10);
  const wait = await histogram('herdless.wait.duration', { ...attributes, 'herdless.outcome': 'wait' });
  expect(wait.unit).toBe('s');
  expect(wait.count).toBe(1);
  expect(wait.sum).toBeGreaterThan(0.1); // most of the leader's 200 ms, in seconds
  expect(wait.sum).toBeLessThan(10);
  expect(await sum('herdless.leases', { ...attributes, 'herdless.lease.outcome': 'lead' })).toBe(1);
  // A span per caller that entered the lease conversation: the leader and the waiter; none for those that joined.
  expect(herdlessSpans(main.spans, namespace).map((span) => span.attributes['herdless.outcome']).sort()).toEqual(['lead', 'wait']);
});

test('grace: a stale value served, and the background refresh counted, timed, and traced with the function inside it', async () => {
  const cache = make('grace', { ttl: 300, grace: '1h', earlyRefresh: false });
  await call(cache, 'k', () => 'v1');
  await sleep(400);
  let refreshSpan: Span | undefined;
  const refresh = async () =>
    tracer.startActiveSpan('refresh.query', async (span) => {
      refreshSpan = span;
      await sleep(20);
      span.end();
      return 'v2';
    });
  expect(await call(cache, 'k', refresh)).toBe('v1');
  await until(async () => (await sum('herdless.refreshes', ns(cache))) === 1, 'the refresh to settle');

  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'stale', 'herdless.tier': 'redis' })).toBe(1);
  expect(await sum('herdless.stale_served', { ...ns(cache), 'herdless.tier': 'redis' })).toBe(1);
  expect(await sum('herdless.refreshes', { ...ns(cache), 'herdless.refresh.outcome': 'refreshed' })).toBe(1);
  const factory = await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.operation': 'refresh', 'herdless.refresh.outcome': 'refreshed' });
  expect(factory.count).toBe(1);
  expect(factory.sum).toBeGreaterThanOrEqual(0.015);
  expect(await sum('herdless.leases', { ...ns(cache), 'herdless.lease.outcome': 'lead', 'herdless.operation': 'refresh' })).toBe(1);
  expect(await call(cache, 'k', () => 'never')).toBe('v2');

  // The first call's miss, then the refresh's span (serving stale is no miss), parent of the span its function started.
  await until(() => herdlessSpans(main.spans, cache.namespace).length > 1, 'the refresh span');
  const spans = herdlessSpans(main.spans, cache.namespace);
  expect(spans.map((span) => [span.name, span.attributes['herdless.outcome'] ?? span.attributes['herdless.refresh.outcome']])).toEqual([
    ['herdless.miss', 'lead'],
    ['herdless.refresh', 'refreshed'],
  ]);
  const span = spans[1];
  const query = main.spans.getFinishedSpans().find((finished) => finished.spanContext().spanId === refreshSpan?.spanContext().spanId)!;
  expect(query.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
  expect(query.spanContext().traceId).toBe(span.spanContext().traceId);
});

test('a refresh that waits (softTimeout) for a holder that dies takes its lease over: counted as a refresh that ran, traced with its function', async () => {
  const cache = make('refresh-takeover', { ttl: 200, grace: '1h', earlyRefresh: false });
  await call(cache, 'k', () => 'v1');
  await sleep(300);
  // Another process's refresh, whose process died holding the lease.
  await admin.set(`${cache.namespace}:{k}:lease`, 'a-holder-that-died', { PX: 300 });
  expect(await call(cache, 'k', () => 'v2', { softTimeout: 5_000 })).toBe('v2');
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'refresh' })).toBe(1);
  expect(await sum('herdless.refreshes', ns(cache))).toBe(1);
  expect(await sum('herdless.refreshes', { ...ns(cache), 'herdless.refresh.outcome': 'refreshed' })).toBe(1);
  expect(await sum('herdless.leases', { ...ns(cache), 'herdless.operation': 'refresh', 'herdless.lease.outcome': 'lead' })).toBe(1);
  expect(await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.operation': 'refresh' })).toMatchObject({ count: 1 });
  await until(() => herdlessSpans(main.spans, cache.namespace).some((span) => span.name === 'herdless.refresh'), 'the refresh span');
});

test('Redis unreachable: uncached, the function timed, the Redis errors counted by type, and the function still inside a span', async () => {
  // Port 1: nothing listens there, the connection is refused at once.
  const down = make('down', { redis: { url: 'redis://127.0.0.1:1' }, commandTimeout: 200 });
  const value = await tracer.startActiveSpan('request', async (request) => {
    const answer = await call(down, 'k', () =>
      tracer.startActiveSpan('db.query', (query) => {
        query.end();
        return 'computed';
      }),
    );
    request.end();
    return answer;
  });
  expect(value).toBe('computed');
  expect(await sum('herdless.requests', { ...ns(down), 'herdless.outcome': 'uncached' })).toBe(1);
  expect(await histogram('herdless.factory.duration', { ...ns(down), 'herdless.outcome': 'uncached' })).toMatchObject({ count: 1, unit: 's' });
  await until(async () => (await sum('herdless.redis.errors', ns(down))) >= 1, 'a Redis error');
  const errors = await metric('herdless.redis.errors');
  expect(errors?.descriptor.unit).toBe('{error}');
  const types = errors!.dataPoints.filter((point) => point.attributes['herdless.namespace'] === down.namespace).map((point) => point.attributes['error.type']);
  expect(types.every((type) => typeof type === 'string' && type !== '')).toBe(true);

  // The core publishes no herdless:miss when the first read fails (the call goes straight to the function):
  // the adapter's runner, set at the call's start, makes the span then (otel/spans.ts).
  const finished = main.spans.getFinishedSpans();
  const request = finished.find((span) => span.name === 'request')!;
  const miss = herdlessSpans(main.spans, down.namespace);
  expect(miss).toHaveLength(1);
  expect(miss[0].attributes['herdless.outcome']).toBe('uncached');
  expect(miss[0].parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  const query = finished.find((span) => span.name === 'db.query' && span.spanContext().traceId === request.spanContext().traceId)!;
  expect(query.parentSpanContext?.spanId).toBe(miss[0].spanContext().spanId);
});

test('hardTimeout: the call times out with its error type, and its span fails', async () => {
  const cache = make('timeout');
  const late = call(cache, 'k', async () => (await sleep(600), 'late'), { hardTimeout: 100 });
  await expect(late).rejects.toMatchObject({ code: 'ERR_HERDLESS_TIMEOUT' });
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'timeout' })).toBe(1);
  const [span] = herdlessSpans(main.spans, cache.namespace);
  expect(span.attributes['herdless.outcome']).toBe('timeout');
  expect(span.attributes['error.type']).toBe('ERR_HERDLESS_TIMEOUT');
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.events.map((event) => event.name)).toContain('exception');
  await until(async () => (await cache.get('k')) === 'late', 'the computation to finish and commit'); // it goes on
});

test('a function that throws: the lead rejects with the error\'s code as error.type, and its span records the exception', async () => {
  const cache = make('throws');
  await expect(call(cache, 'k', () => Promise.reject(Object.assign(new Error('database down'), { code: 'E_DB' })))).rejects.toThrow('database down');
  class ReportError extends Error {}
  await expect(call(cache, 'j', () => Promise.reject(new ReportError('no code')))).rejects.toThrow('no code');
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'lead' })).toBe(2);
  // Why each failed: on the function's time, which the miss's trace carries.
  expect(await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.outcome': 'lead', 'error.type': 'E_DB' })).toMatchObject({ count: 1 });
  expect(await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.outcome': 'lead', 'error.type': 'ReportError' })).toMatchObject({ count: 1 });
  const spans = herdlessSpans(main.spans, cache.namespace);
  expect(spans.map((span) => [span.attributes['error.type'], span.status])).toEqual(
    expect.arrayContaining([
      ['E_DB', { code: SpanStatusCode.ERROR, message: 'database down' }],
      ['ReportError', { code: SpanStatusCode.ERROR, message: 'no code' }],
    ]),
  );
});

test('refused calls: not requests from the counters; with keyGroup (every call traced), refused with their error type', async () => {
  const own = sdk();
  const traced = instrument({ meterProvider: own.meterProvider, tracerProvider: own.tracerProvider, keyGroup: () => 'all' });
  const cache = make('refused');
  try {
    await expect(call(cache, '}bad', () => 1)).rejects.toBeInstanceOf(InvalidOptionError);
    await cache.close();
    await expect(call(cache, 'k', () => 1)).rejects.toMatchObject({ code: 'ERR_HERDLESS_CLOSED' });
    expect(await sum('herdless.requests', ns(cache))).toBe(0);
    expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'refused', 'error.type': 'ERR_HERDLESS_INVALID_OPTION' }, own.reader)).toBe(1);
    expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'refused', 'error.type': 'ERR_HERDLESS_CLOSED' }, own.reader)).toBe(1);
    expect(herdlessSpans(main.spans, cache.namespace)).toEqual([]);
  } finally {
    traced.stop();
  }
});

test('leases: a takeover of a dead holder\'s lease, and a fenced computation', async () => {
  const cache = make('leases');
  await cache.get('warm-up');
  // A holder that died holding the lease: the caller waits for the lease to expire, then takes it over.
  await admin.set(`${cache.namespace}:{t}:lease`, 'a-holder-that-died', { PX: 300 });
  expect(await call(cache, 't', () => 'mine')).toBe('mine');
  // A delete() while the function runs voids its lease: the result is not stored.
  expect(await call(cache, 'f', async () => (await cache.delete('f'), 'fenced'))).toBe('fenced');

  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'takeover' })).toBe(1);
  expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'fence' })).toBe(1);
  expect(await sum('herdless.leases', { ...ns(cache), 'herdless.lease.outcome': 'takeover', 'herdless.operation': 'getOrSet' })).toBe(1);
  expect(await sum('herdless.leases', { ...ns(cache), 'herdless.lease.outcome': 'fence', 'herdless.operation': 'getOrSet' })).toBe(1);
  expect(await sum('herdless.leases', ns(cache))).toBe(2);
  expect(await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.outcome': 'takeover' })).toMatchObject({ count: 1 });
  expect(await histogram('herdless.factory.duration', { ...ns(cache), 'herdless.outcome': 'fence' })).toMatchObject({ count: 1 });
});

test('the memory tier: entries, bytes and evictions as the cache counts them (maxEntries 2, five keys filled)', async () => {
  const cache = make('l1', { l1: { maxEntries: 2 } });
  for (let i = 0; i < 5; i++) {
    await call(cache, `k${i}`, () => `value ${i}`);
    await untilMemoryHit(cache, `k${i}`);
  }
  const memory = cache.stats().memory!;
  expect(memory).toMatchObject({ entries: 2, evictions: 3 });
  const entries = await metric('herdless.l1.entry.count');
  const bytes = await metric('herdless.l1.usage');
  const evictions = await metric('herdless.l1.evictions');
  expect([entries?.descriptor.unit, bytes?.descriptor.unit, evictions?.descriptor.unit]).toEqual(['{entry}', 'By', '{entry}']);
  expect(await sum('herdless.l1.entry.count', ns(cache))).toBe(2);
  expect(await sum('herdless.l1.evictions', ns(cache))).toBe(3);
  expect(await sum('herdless.l1.usage', ns(cache))).toBe(memory.bytes);
  expect(memory.bytes).toBeGreaterThan(0);
});

test('keyGroup: herdless.key_group on metrics and spans; caches given in options are reported before any call', async () => {
  const grouped = sdk();
  const idle = make('idle', { l1: true });
  const cache = make('grouped');
  const instrumented = instrument({
    meterProvider: grouped.meterProvider,
    tracerProvider: grouped.tracerProvider,
    keyGroup: (key) => {
      if (key.startsWith('boom')) throw new Error('a bug in keyGroup');
      return key.split(':')[0];
    },
  });
  try {
    await call(cache, 'user:1', () => 1);
    await call(cache, 'user:1', () => 1);
    await call(cache, 'order:7', () => 7);
    await call(cache, 'boom:1', () => 'a keyGroup that throws groups nothing');
    const attributes = { ...ns(cache) };
    expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'lead', 'herdless.key_group': 'user' }, grouped.reader)).toBe(1);
    expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'hit', 'herdless.key_group': 'user' }, grouped.reader)).toBe(1);
    expect(await sum('herdless.requests', { ...attributes, 'herdless.outcome': 'lead', 'herdless.key_group': 'order' }, grouped.reader)).toBe(1);
    expect(await sum('herdless.requests', { ...attributes, 'herdless.key_group': undefined }, grouped.reader)).toBe(1);
    expect(await sum('herdless.leases', { ...attributes, 'herdless.key_group': 'user' }, grouped.reader)).toBe(1);
    expect(herdlessSpans(grouped.spans, cache.namespace).map((span) => span.attributes['herdless.key_group']).sort()).toEqual(['order', 'user', undefined]);
    const entries = (await metric('herdless.l1.entry.count', grouped.reader))?.dataPoints.find((point) => point.attributes['herdless.namespace'] === idle.namespace);
    expect(entries?.value).toBe(0);
  } finally {
    instrumented.stop();
    await Promise.all([grouped.meterProvider.shutdown(), grouped.tracerProvider.shutdown()]);
  }
});

test('bad options are refused with InvalidOptionError naming the option', () => {
  for (const [options, option] of [
    [{ keyGroup: 'user' }, 'keyGroup'],
    [{ caches: [{}] }, 'caches'],
    [{ meterProvider: {} }, 'meterProvider'],
    [{ spans: 'yes' }, 'spans'],
    [{ keygroup: () => 'x' }, 'keygroup'],
  ] as const) {
    expect(() => instrument(options as never)).toThrow(expect.objectContaining({ option }));
  }
});

test('spans: a miss makes one span, child of the caller\'s, parent of the function\'s; a hit makes none', async () => {
  const cache = make('spans');
  let querySpan: Span | undefined;
  const load = () =>
    tracer.startActiveSpan('db.query', async (span) => {
      querySpan = span;
      await sleep(10);
      span.end();
      return 42;
    });
  let requestSpan: Span | undefined;
  await tracer.startActiveSpan('request', async (span) => {
    requestSpan = span;
    expect(await call(cache, 'answer', load)).toBe(42);
    span.end();
  });
  const spans = herdlessSpans(main.spans, cache.namespace);
  expect(spans).toHaveLength(1);
  const [miss] = spans;
  expect(miss.name).toBe('herdless.miss');
  expect(miss.kind).toBe(SpanKind.INTERNAL);
  expect(miss.attributes).toEqual({ 'herdless.namespace': cache.namespace, 'herdless.outcome': 'lead' });
  expect(miss.status.code).not.toBe(SpanStatusCode.ERROR);
  expect(miss.parentSpanContext?.spanId).toBe(requestSpan!.spanContext().spanId);
  expect(miss.spanContext().traceId).toBe(requestSpan!.spanContext().traceId);
  const query = main.spans.getFinishedSpans().find((span) => span.spanContext().spanId === querySpan!.spanContext().spanId)!;
  expect(query.spanContext().traceId).toBe(miss.spanContext().traceId);
  expect(query.parentSpanContext?.spanId).toBe(miss.spanContext().spanId);

  expect(await call(cache, 'answer', load)).toBe(42);
  expect(herdlessSpans(main.spans, cache.namespace)).toHaveLength(1);
});

test('no attribute holds a key without a keyGroup; every attribute is one of the documented ones', async () => {
  const allowed = new Set(['herdless.namespace', 'herdless.outcome', 'herdless.tier', 'herdless.operation', 'herdless.lease.outcome', 'herdless.refresh.outcome', 'error.type']);
  const data = (await metricsOf(main.reader)).filter((metric) => metric.descriptor.name.startsWith('herdless.'));
  expect(data.length).toBeGreaterThan(5);
  const attributes = [
    ...data.flatMap((metric) => metric.dataPoints.map((point) => point.attributes)),
    ...main.spans.getFinishedSpans().filter((span) => span.name.startsWith('herdless.')).map((span) => span.attributes),
  ];
  expect(keysUsed.size).toBeGreaterThan(5);
  for (const set of attributes) {
    for (const [name, value] of Object.entries(set)) {
      expect(allowed).toContain(name);
      expect(keysUsed).not.toContain(value);
    }
  }
});

test('stop() ends everything: no data points or spans after it, twice is fine, and no channel keeps a subscriber', async () => {
  const own = sdk();
  const cache = make('stop', { l1: true });
  const instrumented = instrument({ meterProvider: own.meterProvider, tracerProvider: own.tracerProvider });
  await call(cache, 'a', () => 1);
  expect(await sum('herdless.requests', ns(cache), own.reader)).toBe(1);
  expect(await sum('herdless.l1.entry.count', ns(cache), own.reader)).toBe(0);
  const spansBefore = own.spans.getFinishedSpans().length;
  expect(spansBefore).toBe(1);
  instrumented.stop();
  instrumented.stop();
  await call(cache, 'b', () => 2);
  await untilMemoryHit(cache, 'a');
  expect(cache.stats().memory?.entries).toBeGreaterThan(0);
  expect(await sum('herdless.requests', ns(cache), own.reader)).toBe(1);
  expect(own.spans.getFinishedSpans()).toHaveLength(spansBefore);
  // The SDK repeats an observable's last value; no new one was observed.
  expect(await sum('herdless.l1.entry.count', ns(cache), own.reader)).toBe(0);
  await Promise.all([own.meterProvider.shutdown(), own.tracerProvider.shutdown()]);

  telemetry.stop();
  telemetry.stop();
  for (const name of ['herdless:getOrSet', 'herdless:miss', 'herdless:refresh']) expect(diagnostics.tracingChannel(name).hasSubscribers).toBe(false);
  expect(diagnostics.hasSubscribers('herdless:error')).toBe(false);
  const before = await sum('herdless.requests', {});
  await call(cache, 'c', () => 3);
  expect(await sum('herdless.requests', {})).toBe(before);
});

test('without keyGroup, hits are not traced at all: the adapter reads the caches\' counters and traces misses only', async () => {
  const getOrSet = diagnostics.tracingChannel('herdless:getOrSet');
  const miss = diagnostics.tracingChannel('herdless:miss');
  const own = sdk();
  const plain = instrument({ meterProvider: own.meterProvider, tracerProvider: own.tracerProvider });
  try {
    expect(getOrSet.hasSubscribers).toBe(false);
    expect(miss.hasSubscribers).toBe(true);
    const cache = make('untraced');
    await call(cache, 'k', () => 1);
    for (let i = 0; i < 5; i++) await call(cache, 'k', () => 2);
    expect(await sum('herdless.requests', { ...ns(cache), 'herdless.outcome': 'hit', 'herdless.tier': 'redis' }, own.reader)).toBe(5);
    const grouped = instrument({ meterProvider: sdk().meterProvider, tracerProvider: own.tracerProvider, keyGroup: () => 'g', metrics: true, spans: false });
    expect(getOrSet.hasSubscribers).toBe(true);
    grouped.stop();
    expect(getOrSet.hasSubscribers).toBe(false);
  } finally {
    plain.stop();
  }
});
