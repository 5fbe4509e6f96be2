import diagnostics from 'node:diagnostics_channel';
import type { MetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { CHANNELS } from '../../src';
import { sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';
import { HIT_VALUE } from './hits';
import { measure } from './tags';

/*
 * The instrumentation phase's work inside a worker: herdless's hits with nothing listening on its
 * channels, with a diagnostics subscriber that does nothing, and with the OpenTelemetry adapter on, measured
 * in rounds that take the variants back to back (as the tags phase does), so each round compares them on
 * the same machine at the same moment.
 */

/** Undoes what a variant attached: unsubscribes, or stops the adapter. */
type Detach = () => void;

export interface InstrumentationVariant {
  readonly name: string;
  /** How it is set up, for the report. */
  readonly setup: string;
  /** Turns the variant on; what it returns turns it off again. */
  attach(): Promise<Detach>;
  /** Variants that record (the adapter): what they recorded so far in this process, running counts. */
  recorded?(): Promise<Recorded>;
  /** ... and the metric data points one collection finds, by metric name. */
  metricPoints?(): Promise<Record<string, number>>;
}

/** Running counts of what the adapter recorded: spans ended, and the calls herdless.requests counted. */
export interface Recorded {
  spans: number;
  requests: number;
}

const noop = () => undefined;
const NOOP_TRACE = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };

/** Nothing listens: every call checks one hasSubscribers and builds nothing (the baseline). */
const none: InstrumentationVariant = {
  name: 'none',
  setup: 'no subscriber on any herdless channel',
  attach: async () => noop,
};

/**
 * A subscriber that does nothing: what is left is herdless's own cost of tracing a call (its context
 * object, Node's tracePromise and the publishes), the floor any real subscriber pays.
 */
const subscriber: InstrumentationVariant = {
  name: 'subscriber',
  setup: `diagnostics_channel.tracingChannel(name).subscribe({ start, end, asyncStart, asyncEnd, error }) for '${CHANNELS.getOrSet}' and '${CHANNELS.miss}', every function empty; unsubscribed after the variant`,
  async attach() {
    const channel = diagnostics.tracingChannel(CHANNELS.getOrSet);
    channel.subscribe(NOOP_TRACE);
    const miss = diagnostics.tracingChannel(CHANNELS.miss);
    miss.subscribe(NOOP_TRACE);
    return () => {
      channel.unsubscribe(NOOP_TRACE);
      miss.unsubscribe(NOOP_TRACE);
    };
  },
};

/** What the adapter reports to, made once per worker and kept across attaches (an application makes it once). */
interface Sdk {
  meterProvider: import('@opentelemetry/sdk-metrics').MeterProvider;
  tracerProvider: import('@opentelemetry/sdk-trace-base').BasicTracerProvider;
  reader: MetricReader;
  /** Spans ended so far. */
  counted: { spans: number };
}

let sdk: Promise<Sdk> | undefined;

/** The SDK, loaded on first use, so workers that never run this phase never load it. */
async function openSdk(): Promise<Sdk> {
  const [{ AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader }, { BasicTracerProvider }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  // An interval longer than any run: nothing is exported while measuring; collect() reads on demand.
  const reader = new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 3_600_000 });
  const counted = { spans: 0 };
  // Counts the spans that end and keeps none: what the tracer does up to its exporter, without one.
  const counting: SpanProcessor = {
    onStart: noop,
    onEnd: () => void counted.spans++,
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  return { meterProvider: new MeterProvider({ readers: [reader] }), tracerProvider: new BasicTracerProvider({ spanProcessors: [counting] }), reader, counted };
}

/** Sums every data point of each metric one collection finds (a histogram: its count), by name. */
async function collect(reader: MetricReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const points: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints as { value: number | { count: number } }[]) {
        const value = typeof point.value === 'number' ? point.value : point.value.count;
        points[metric.descriptor.name] = (points[metric.descriptor.name] ?? 0) + value;
      }
    }
  }
  return points;
}

/**
 * The OpenTelemetry adapter on (herdless/otel), with a real MeterProvider and tracer provider passed to it
 * and Node's AsyncLocalStorage context manager registered, as the adapter asks (an SDK such as NodeSDK
 * registers one); stopped, and the context manager unregistered, after the variant.
 */
const otel: InstrumentationVariant = {
  name: 'otel',
  setup:
    'instrument({ meterProvider, tracerProvider }) from herdless/otel, stopped after the variant; meterProvider: new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(CUMULATIVE), exportIntervalMillis: 1 h })] }) (@opentelemetry/sdk-metrics); ' +
    "tracerProvider: new BasicTracerProvider({ spanProcessors: [a processor that counts the spans that end] }) (@opentelemetry/sdk-trace-base); context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()) (@opentelemetry/context-async-hooks) while the variant runs; the providers are made once and kept",
  async attach() {
    const [{ instrument }, { context }, { AsyncLocalStorageContextManager }, { meterProvider, tracerProvider }] = await Promise.all([
      import('../../otel'),
      import('@opentelemetry/api'),
      import('@opentelemetry/context-async-hooks'),
      (sdk ??= openSdk()),
    ]);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const handle = instrument({ meterProvider, tracerProvider });
    return () => {
      handle.stop();
      context.disable();
    };
  },
  async recorded() {
    const opened = await (sdk ??= openSdk());
    return { spans: opened.counted.spans, requests: (await collect(opened.reader))['herdless.requests'] ?? 0 };
  },
  async metricPoints() {
    return collect((await (sdk ??= openSdk())).reader);
  },
};

/** The variants, in round order; the first is the baseline every ratio is taken against. */
export const INSTRUMENTATION_VARIANTS: readonly InstrumentationVariant[] = [none, subscriber, otel];

export interface InstrumentationHitsRequest {
  /** Concurrent callers, each on its own key. */
  callers: number;
  roundMs: number;
  rounds: number;
  warmupMs: number;
  /** Unmeasured calls before each window, its variant attached (see instrumentationHits). */
  settleMs: number;
}

export interface InstrumentationSide {
  opsPerSec: number[];
  latenciesUs: number[];
  /** Calls while the variant was attached in the rounds (the settling calls and the windows'), all rounds. */
  attachedCalls: number;
  /** Variants that record: what they recorded over those calls, and the metric data points after the rounds. */
  recorded: Recorded | undefined;
  metricPoints: Record<string, number> | undefined;
}

export interface InstrumentationHitsResult {
  /** By variant, in INSTRUMENTATION_VARIANTS order. */
  variants: InstrumentationSide[];
  /** Hits by tier in one pass after the rounds (caches that report it). */
  tiers: { memory: number; redis: number } | undefined;
}

declare const gc: (() => void) | undefined;

const expectHit = () => Promise.reject(new Error('a hit was expected'));

/**
 * Hits of one key per caller, every round running each variant for roundMs back to back, starting one
 * variant later each round (so none always follows the same one); the variant is attached just before its
 * window and detached just after, outside the time measured. Each window follows settleMs of unmeasured
 * calls: the first subscriber of a channel, and the last one leaving, switch the channel's prototype
 * (Node's ActiveChannel), so V8 throws away the optimized code of every path that checks hasSubscribers,
 * and the first calls after a switch time its recompilation rather than the variant (an application
 * subscribes once).
 */
export async function instrumentationHits(cache: CacheUnderTest, request: InstrumentationHitsRequest): Promise<InstrumentationHitsResult> {
  const keys = Array.from({ length: request.callers }, (_, i) => `instrumented:${request.callers}:${i}`);
  await Promise.all(keys.map((key) => cache.getOrSet(key, async () => HIT_VALUE)));
  const hit = (i: number) => cache.getOrSet(keys[i], expectHit);
  const callers = keys.map((_, i) => i);
  if (cache.watchHits) {
    // A memory tier keeps only what it read once its invalidations are proven to arrive: let that
    // happen, then read every key again so the tier holds them (as the hits phase does).
    await sleep(150);
    await Promise.all(callers.map(hit));
  }
  // Every variant's code paths warm (the adapter's instruments made, its functions compiled) before any round.
  for (const variant of INSTRUMENTATION_VARIANTS) await within(variant, () => measure(hit, callers, request.warmupMs, undefined));
  const variants: InstrumentationSide[] = INSTRUMENTATION_VARIANTS.map((variant) => ({
    opsPerSec: [],
    latenciesUs: [],
    attachedCalls: 0,
    recorded: variant.recorded && { spans: 0, requests: 0 },
    metricPoints: undefined,
  }));
  for (let round = 0; round < request.rounds; round++) {
    for (let k = 0; k < INSTRUMENTATION_VARIANTS.length; k++) {
      const v = (round + k) % INSTRUMENTATION_VARIANTS.length;
      const variant = INSTRUMENTATION_VARIANTS[v];
      const side = variants[v];
      // The last variant's garbage (an adapter's spans and contexts) is collected here, not in this window.
      if (typeof gc === 'function') gc();
      let before: Recorded | undefined;
      let after: Recorded | undefined;
      // Read while attached: the adapter reports requests from the caches' counters only while it runs.
      await within(variant, async () => {
        before = await variant.recorded?.();
        side.attachedCalls += await measure(hit, callers, request.settleMs, undefined);
        side.attachedCalls += await measure(hit, callers, request.roundMs, side);
        after = await variant.recorded?.();
      });
      if (side.recorded && before && after) {
        side.recorded.spans += after.spans - before.spans;
        side.recorded.requests += after.requests - before.requests;
      }
    }
  }
  for (let v = 0; v < INSTRUMENTATION_VARIANTS.length; v++) variants[v].metricPoints = await INSTRUMENTATION_VARIANTS[v].metricPoints?.();
  return { variants, tiers: await tiersOf(cache, callers, hit) };
}

/** `run` with the variant attached, detached however it ends. */
async function within(variant: InstrumentationVariant, run: () => Promise<unknown>): Promise<void> {
  const detach = await variant.attach();
  try {
    await run();
  } finally {
    detach();
  }
}

/** Hits by tier in one pass over every caller's key, nothing attached (caches that report it). */
async function tiersOf(cache: CacheUnderTest, callers: number[], hit: (i: number) => Promise<unknown>): Promise<InstrumentationHitsResult['tiers']> {
  if (!cache.watchHits) return undefined;
  const counted = { memory: 0, redis: 0 };
  const stop = cache.watchHits((tier) => counted[tier]++);
  try {
    await Promise.all(callers.map(hit));
  } finally {
    stop();
  }
  return counted;
}

