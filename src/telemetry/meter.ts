import type { TracingChannel } from 'node:diagnostics_channel';
import { InvalidOptionError } from '../errors';
import { errorChannel, getOrSetChannel, missChannel, refreshChannel, type ErrorMessage, type GetOrSetContext, type RefreshContext } from './channels';
import { statsByNamespace } from './registry';

/*
 * The metrics herdless exports, in one place for every adapter (herdless/otel, herdless/prometheus): this
 * module subscribes to the diagnostics channels (channels.ts) and reports to a MetricSink, which each adapter
 * implements on its own SDK. So both export the same metrics, counted the same way, and neither SDK is a
 * dependency of the core. Not exported from src/index.ts: the adapters are its only users.
 *
 * Invariants:
 * - nothing here throws into a publisher: Node rethrows a subscriber's exception as an uncaught one, which
 *   would crash the process over a metric (every handler is guarded, the user's keyGroup included);
 * - no attribute holds a cache key: keys are unbounded. Only the user's keyGroup may group them;
 * - every open cache of the process is reported, from its creation, whether or not it was called
 *   (registry.ts), and none is kept alive by it;
 * - a hit costs nothing more with a meter on, unless keyGroup asks for every call's key (startMeter).
 */

/** The attributes of herdless' metrics, by their OpenTelemetry names (each definition gives its Prometheus label names). */
export type AttributeName =
  | 'herdless.namespace'
  | 'herdless.outcome'
  | 'herdless.tier'
  | 'herdless.operation'
  | 'herdless.lease.outcome'
  | 'herdless.refresh.outcome'
  | 'herdless.key_group'
  | 'error.type';

/** One data point's attributes. */
export type Attributes = { [A in AttributeName]?: string };

/**
 * How a metric is kept: `counter` and `histogram` are recorded as calls settle; `gauge` (a value that goes up
 * and down, additive across caches) and `observed-counter` (a monotonic total) are read when the SDK collects.
 */
export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'observed-counter';

export interface MetricDefinition {
  readonly kind: MetricKind;
  /** The OpenTelemetry instrument name. */
  readonly otel: string;
  /** The Prometheus name, after the adapter's prefix (`herdless_` by default), unit and `_total` included. */
  readonly prometheus: string;
  /** UCUM, as OpenTelemetry wants it: 's', 'By', or a count's annotation such as '{request}'. */
  readonly unit: string;
  readonly description: string;
  /**
   * Its attributes, each with its Prometheus label name. `herdless.key_group` only when keyGroup is given.
   * Two attributes may share a label: a getOrSet's outcome and a refresh's are two sets of values in
   * OpenTelemetry (an attribute means one thing everywhere), one `outcome` label beside `operation` in Prometheus.
   */
  readonly attributes: { readonly [A in AttributeName]?: string };
}

const COMMON = { 'herdless.namespace': 'namespace', 'herdless.key_group': 'key_group' } as const;

/**
 * Every metric. OpenTelemetry and Prometheus names differ where their conventions do: an OpenTelemetry
 * UpDownCounter is not pluralized and carries its unit in `unit` (`herdless.l1.entry.count`, `herdless.l1.usage`),
 * a Prometheus gauge is named by what it counts, with its base unit as suffix (`l1_entries`, `l1_bytes`).
 */
export const METRICS = {
  requests: {
    kind: 'observed-counter',
    otel: 'herdless.requests',
    prometheus: 'requests_total',
    unit: '{request}',
    description: 'getOrSet calls, by how each got its value (outcome; tier for hit and stale; with keyGroup, the error type when it rejected)',
    attributes: { ...COMMON, 'herdless.outcome': 'outcome', 'herdless.tier': 'tier', 'error.type': 'error_type' },
  },
  factoryDuration: {
    kind: 'histogram',
    otel: 'herdless.factory.duration',
    prometheus: 'factory_duration_seconds',
    unit: 's',
    description: 'How long the cached function ran, when this process ran it (for a getOrSet call, or a background refresh)',
    attributes: { ...COMMON, 'herdless.operation': 'operation', 'herdless.outcome': 'outcome', 'herdless.refresh.outcome': 'outcome', 'error.type': 'error_type' },
  },
  waitDuration: {
    kind: 'histogram',
    otel: 'herdless.wait.duration',
    prometheus: 'wait_duration_seconds',
    unit: 's',
    description: "How long a getOrSet call waited for another caller's computation",
    attributes: { ...COMMON, 'herdless.outcome': 'outcome', 'error.type': 'error_type' },
  },
  leases: {
    kind: 'counter',
    otel: 'herdless.leases',
    prometheus: 'leases_total',
    unit: '{lease}',
    description: "Leases this process took and ran the function under: lead (a free lease), takeover (a dead or lost holder's), fence (its result was not stored)",
    attributes: { ...COMMON, 'herdless.lease.outcome': 'outcome', 'herdless.operation': 'operation' },
  },
  refreshes: {
    kind: 'counter',
    otel: 'herdless.refreshes',
    prometheus: 'refreshes_total',
    unit: '{refresh}',
    description: 'Background refresh attempts, by how each ended',
    attributes: { ...COMMON, 'herdless.refresh.outcome': 'outcome' },
  },
  staleServed: {
    kind: 'observed-counter',
    otel: 'herdless.stale_served',
    prometheus: 'stale_served_total',
    unit: '{request}',
    description: 'getOrSet calls answered with a stale value (past its ttl, within grace)',
    attributes: { ...COMMON, 'herdless.tier': 'tier' },
  },
  redisErrors: {
    kind: 'counter',
    otel: 'herdless.redis.errors',
    prometheus: 'redis_errors_total',
    unit: '{error}',
    description: 'Redis failures and unreadable stored values (each call was answered anyway)',
    attributes: { ...COMMON, 'error.type': 'error_type' },
  },
  l1Entries: {
    kind: 'gauge',
    otel: 'herdless.l1.entry.count',
    prometheus: 'l1_entries',
    unit: '{entry}',
    description: 'Entries held in the memory tier (l1)',
    attributes: { 'herdless.namespace': 'namespace' },
  },
  l1Bytes: {
    kind: 'gauge',
    otel: 'herdless.l1.usage',
    prometheus: 'l1_bytes',
    unit: 'By',
    description: 'Bytes the memory tier (l1) counts against its maxBytes',
    attributes: { 'herdless.namespace': 'namespace' },
  },
  l1Evictions: {
    kind: 'observed-counter',
    otel: 'herdless.l1.evictions',
    prometheus: 'l1_evictions_total',
    unit: '{entry}',
    description: 'Entries the memory tier (l1) evicted to stay within maxEntries and maxBytes',
    attributes: { 'herdless.namespace': 'namespace' },
  },
} as const satisfies Record<string, MetricDefinition>;

/**
 * Histogram buckets for durations, in seconds: a millisecond to a minute (lease.maxHold's default), as a
 * cached function (a query, a report) spans that range. Both adapters default to them.
 */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Where the metrics go: an adapter's SDK. Its methods may throw; the meter guards every call. */
export interface MetricSink {
  /** Adds `value` to a counter. */
  count(metric: MetricDefinition, value: number, attributes: Attributes): void;
  /** Records one value of a histogram. */
  record(metric: MetricDefinition, value: number, attributes: Attributes): void;
  /** Has the SDK call `read` whenever it collects `metric` (a gauge or an observed counter); returns how to stop. */
  observe(metric: MetricDefinition, read: (report: (value: number, attributes: Attributes) => void) => void): () => void;
}

/** The user's grouping of keys into a bounded set of values (`keyGroup`). */
export type KeyGroup = (key: string, namespace: string) => string | undefined;

export interface MeterOptions {
  readonly keyGroup?: KeyGroup;
}

/** The Prometheus label names of a metric: its attributes', less `key_group` without a keyGroup. */
export function labelsOf(metric: MetricDefinition, keyGroups: boolean): string[] {
  const names = Object.entries(metric.attributes).filter(([attribute]) => keyGroups || attribute !== 'herdless.key_group').map(([, label]) => label);
  return [...new Set(names)];
}

/** Checks the options every adapter shares. */
export function checkMeterOptions(options: { keyGroup?: unknown }): void {
  if (options.keyGroup !== undefined && typeof options.keyGroup !== 'function') {
    throw new InvalidOptionError('keyGroup', options.keyGroup, 'a function (key, namespace) => string | undefined');
  }
}

/** Refuses an options object's unknown (misspelt) options, as createCache does. */
export function checkKnown(options: object, known: readonly string[]): void {
  for (const option of Object.keys(options)) {
    if (!known.includes(option)) throw InvalidOptionError.unknown(option, known);
  }
}

/** The user's key group for a key, or undefined: a keyGroup that throws or returns a non-string groups nothing. */
export function groupOf(keyGroup: KeyGroup | undefined, key: unknown, namespace: string): string | undefined {
  if (keyGroup === undefined || typeof key !== 'string') return undefined;
  try {
    const group = keyGroup(key, namespace);
    return typeof group === 'string' ? group : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `error.type`, as OpenTelemetry's conventions define it (low cardinality): the error's `code` when it is a
 * string (herdless' ERR_HERDLESS_*, Node's ECONNREFUSED), else its class's name; `_OTHER` for a thrown
 * primitive or an object without one. Never throws, whatever was thrown (getters included).
 */
export function errorType(error: unknown): string {
  if ((typeof error !== 'object' && typeof error !== 'function') || error === null) return '_OTHER';
  try {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const name = (error as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== '') return name;
  } catch {
    // a getter that throws: fall through
  }
  return '_OTHER';
}

/** Handlers for a tracing channel's events; the missing ones are no-ops. */
export interface TracingHandlers<C extends object> {
  start?: (context: C) => void;
  asyncEnd?: (context: C) => void;
}

/**
 * Subscribes to a tracing channel with every handler guarded; returns the unsubscribe. Node 20 needs all
 * five handlers, and the same object to unsubscribe.
 */
export function subscribeTracing<S, C extends object>(channel: TracingChannel<S, C>, handlers: TracingHandlers<C>): () => void {
  const noop = () => undefined;
  const subscribed = {
    start: guarded(handlers.start) ?? noop,
    end: noop,
    asyncStart: noop,
    asyncEnd: guarded(handlers.asyncEnd) ?? noop,
    error: noop,
  };
  channel.subscribe(subscribed);
  return () => {
    channel.unsubscribe(subscribed);
  };
}

/** Subscribes a guarded handler to a plain channel; returns the unsubscribe. */
export function subscribePlain<M>(channel: { subscribe(handler: (message: unknown) => void): void; unsubscribe(handler: (message: unknown) => void): unknown }, handler: (message: M) => void): () => void {
  const subscribed = guarded(handler as (message: unknown) => void)!;
  channel.subscribe(subscribed);
  return () => {
    channel.unsubscribe(subscribed);
  };
}

function guarded<A>(handler: ((argument: A) => void) | undefined): ((argument: A) => void) | undefined {
  if (handler === undefined) return undefined;
  return (argument) => {
    try {
      handler(argument);
    } catch {
      // a metric or a span is never worth the caller's process (see the invariants above)
    }
  };
}

/** How each getOrSet outcome counts as a lease this process took: lead, takeover, or fence. */
const LEASE_OF_CALL: Partial<Record<NonNullable<GetOrSetContext['outcome']>, string>> = { lead: 'lead', takeover: 'takeover', fence: 'fence' };
/** And each refresh outcome: a refresh that ran the function led (its function may have thrown: failed), or was fenced; or took over (below). */
const LEASE_OF_REFRESH: Partial<Record<NonNullable<RefreshContext['outcome']>, string>> = { refreshed: 'lead', failed: 'lead', fence: 'fence' };

/**
 * Reports every metric of METRICS to `sink`, for every cache in the process; returns the stop, which
 * unsubscribes everything (idempotent). Hits cost nothing more with a meter on: requests and stale serves
 * are read from the caches' own counters when the SDK collects (registry.ts), and only misses, refreshes
 * and errors are traced. With `keyGroup`, requests carry each key's group, which only the call knows:
 * every call is then traced (`herdless:getOrSet`), at a cost on hits the bench's instrumentation phase shows.
 */
export function startMeter(sink: MetricSink, options: MeterOptions = {}): () => void {
  const { keyGroup } = options;
  const base = (namespace: string, key: string): Attributes => {
    const group = groupOf(keyGroup, key, namespace);
    return group === undefined ? { 'herdless.namespace': namespace } : { 'herdless.namespace': namespace, 'herdless.key_group': group };
  };

  // A miss, once its lease conversation ended: the function's time, the wait's, and the lease it took.
  const missed = (context: GetOrSetContext) => {
    const outcome = context.outcome ?? 'uncached';
    const attributes = base(context.namespace, context.key);
    // A call that rejected (the function threw, here or for the holder it waited on; a timeout) says why.
    if ('error' in context) attributes['error.type'] = errorType(context.error);
    const factoryMs = context.factoryMs;
    if (factoryMs !== undefined) guard(() => sink.record(METRICS.factoryDuration, factoryMs / 1000, { ...attributes, 'herdless.operation': 'getOrSet', 'herdless.outcome': outcome }));
    const waitMs = context.waitMs;
    if (waitMs !== undefined) guard(() => sink.record(METRICS.waitDuration, waitMs / 1000, { ...attributes, 'herdless.outcome': outcome }));
    const lease = LEASE_OF_CALL[outcome as keyof typeof LEASE_OF_CALL];
    if (lease !== undefined) guard(() => sink.count(METRICS.leases, 1, { 'herdless.namespace': context.namespace, ...groupOnly(attributes), 'herdless.lease.outcome': lease, 'herdless.operation': 'getOrSet' }));
  };

  const refreshed = (context: RefreshContext) => {
    // A refresh attempt never rejects; one that did (a fault of herdless' own) failed.
    const outcome = context.outcome ?? 'failed';
    const attributes = base(context.namespace, context.key);
    guard(() => sink.count(METRICS.refreshes, 1, { ...attributes, 'herdless.refresh.outcome': outcome }));
    const factoryMs = context.factoryMs;
    if (factoryMs !== undefined) guard(() => sink.record(METRICS.factoryDuration, factoryMs / 1000, { ...attributes, 'herdless.operation': 'refresh', 'herdless.refresh.outcome': outcome }));
    const lease = LEASE_OF_REFRESH[outcome];
    if (lease !== undefined) guard(() => sink.count(METRICS.leases, 1, { ...attributes, 'herdless.lease.outcome': lease, 'herdless.operation': 'refresh' }));
  };

  const failed = (message: ErrorMessage) => {
    const attributes: Attributes = { 'herdless.namespace': message.namespace, 'error.type': errorType(message.error) };
    const group = message.key === undefined ? undefined : groupOf(keyGroup, message.key, message.namespace);
    if (group !== undefined) attributes['herdless.key_group'] = group;
    guard(() => sink.count(METRICS.redisErrors, 1, attributes));
  };

  // With keyGroup: each call tallied here by its attributes, observed like the counters below.
  const tallies = keyGroup === undefined ? undefined : new Tallies();
  const called = (context: GetOrSetContext) => {
    // undefined: the call was refused before it started (a closed cache, a bad key or factory).
    const outcome = context.outcome ?? 'refused';
    const attributes = base(context.namespace, context.key);
    const request: Attributes = { ...attributes, 'herdless.outcome': outcome };
    const served = outcome === 'hit' || outcome === 'stale';
    if (served && context.tier !== undefined) request['herdless.tier'] = context.tier;
    if ('error' in context) request['error.type'] = errorType(context.error);
    tallies!.add(METRICS.requests, request);
    if (outcome === 'stale') tallies!.add(METRICS.staleServed, context.tier === undefined ? attributes : { ...attributes, 'herdless.tier': context.tier });
  };

  // Without keyGroup: the caches' counters, summed by namespace. One read per collection and metric:
  // collections are seconds apart.
  const counted = (metric: typeof METRICS.requests | typeof METRICS.staleServed) => (report: (value: number, attributes: Attributes) => void) => {
    if (tallies !== undefined) return tallies.report(metric, report);
    for (const [namespace, stats] of statsByNamespace()) {
      const tiers = (outcome: 'hit' | 'stale', by: { memory: number; redis: number }) => {
        for (const tier of ['memory', 'redis'] as const) {
          if (by[tier] > 0) report(by[tier], metric === METRICS.requests ? { 'herdless.namespace': namespace, 'herdless.outcome': outcome, 'herdless.tier': tier } : { 'herdless.namespace': namespace, 'herdless.tier': tier });
        }
      };
      if (metric === METRICS.staleServed) {
        tiers('stale', stats.stale);
        continue;
      }
      for (const [outcome, value] of Object.entries(stats.calls)) {
        if (outcome === 'hit') tiers('hit', stats.hits);
        else if (outcome === 'stale') tiers('stale', stats.stale);
        else if (value > 0) report(value, { 'herdless.namespace': namespace, 'herdless.outcome': outcome });
      }
    }
  };

  const memory = (pick: 'entries' | 'bytes' | 'evictions') => (report: (value: number, attributes: Attributes) => void) => {
    for (const [namespace, stats] of statsByNamespace()) if (stats.memory !== undefined) report(stats.memory[pick], { 'herdless.namespace': namespace });
  };

  const stops: (() => void)[] = [];
  const stop = () => {
    for (const undo of stops.splice(0)) guard(undo);
  };
  try {
    stops.push(sink.observe(METRICS.requests, counted(METRICS.requests)));
    stops.push(sink.observe(METRICS.staleServed, counted(METRICS.staleServed)));
    stops.push(sink.observe(METRICS.l1Entries, memory('entries')));
    stops.push(sink.observe(METRICS.l1Bytes, memory('bytes')));
    stops.push(sink.observe(METRICS.l1Evictions, memory('evictions')));
    if (tallies !== undefined) stops.push(subscribeTracing(getOrSetChannel, { asyncEnd: called }));
    stops.push(subscribeTracing(missChannel, { asyncEnd: missed }));
    stops.push(subscribeTracing(refreshChannel, { asyncEnd: refreshed }));
    stops.push(subscribePlain(errorChannel, failed));
  } catch (error) {
    // An SDK that refused an instrument: nothing stays subscribed.
    stop();
    throw error;
  }
  return stop;
}

/** The key group of a set of attributes, alone. */
function groupOnly(attributes: Attributes): Attributes {
  return attributes['herdless.key_group'] === undefined ? {} : { 'herdless.key_group': attributes['herdless.key_group'] };
}

/** Counts by attribute set, for metrics observed at collection (keyGroup's requests). */
class Tallies {
  private readonly counts = new Map<MetricDefinition, Map<string, { attributes: Attributes; value: number }>>();

  add(metric: MetricDefinition, attributes: Attributes): void {
    let byAttributes = this.counts.get(metric);
    if (byAttributes === undefined) this.counts.set(metric, (byAttributes = new Map()));
    const id = JSON.stringify(attributes);
    const tally = byAttributes.get(id);
    if (tally === undefined) byAttributes.set(id, { attributes, value: 1 });
    else tally.value++;
  }

  report(metric: MetricDefinition, report: (value: number, attributes: Attributes) => void): void {
    for (const { attributes, value } of this.counts.get(metric)?.values() ?? []) report(value, attributes);
  }
}

function guard(report: () => void): void {
  try {
    report();
  } catch {
    // the SDK refused a value: the other metrics still go
  }
}
