/**
 * `herdless/otel`: OpenTelemetry metrics and spans for every herdless cache in the process, from herdless'
 * diagnostics channels. Needs `@opentelemetry/api` (1.4 or later); bring your own SDK (NodeSDK, or
 * MeterProvider and TracerProvider) and register a context manager, as NodeSDK does, so spans nest.
 *
 * @example
 * ```ts
 * import { instrument } from 'herdless/otel';
 *
 * // Once the OpenTelemetry SDK is started (NodeSDK's start(), or your own providers registered):
 * // the meter is taken from the global provider now.
 * const telemetry = instrument({ keyGroup: (key) => key.split(':')[0] }); // 'user:42' -> 'user'
 * process.once('SIGTERM', () => telemetry.stop());
 * ```
 *
 * @module herdless/otel
 */
import { metrics as globalMetrics, trace as globalTrace, type Attributes as OtelAttributes, type Counter, type Histogram, type Meter, type MeterProvider, type Observable, type ObservableCallback, type TracerProvider } from '@opentelemetry/api';
import { InvalidOptionError } from '../src/errors';
import { checkKnown, checkMeterOptions, DURATION_BUCKETS, METRICS, startMeter, type Attributes, type MetricDefinition, type MetricSink } from '../src/telemetry/meter';
import { startSpans } from './spans';

/** The OpenTelemetry instrumentation scope of herdless' meter and tracer. */
const SCOPE = 'herdless';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** Where the metrics go. Default: the global meter provider at the time of the call (register your SDK first). */
  readonly meterProvider?: MeterProvider;
  /** Where the spans go. Default: the global tracer provider (a proxy: an SDK registered later is used too). */
  readonly tracerProvider?: TracerProvider;
  /**
   * Groups keys into a few values for the `herdless.key_group` attribute of metrics and spans: keys
   * themselves are unbounded, and never an attribute. Return undefined to leave a key ungrouped. It runs
   * on every call, so keep it cheap; if it throws, the key is left ungrouped.
   *
   * @example
   * ```ts
   * instrument({ keyGroup: (key) => key.slice(0, key.indexOf(':')) || undefined });
   * ```
   */
  readonly keyGroup?: (key: string, namespace: string) => string | undefined;
  /** Record metrics. Default true. */
  readonly metrics?: boolean;
  /** Record spans. Default true. */
  readonly spans?: boolean;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** Stops recording: unsubscribes from every channel and removes the memory tier's callbacks. Idempotent. */
  stop(): void;
}

const OPTIONS = ['meterProvider', 'tracerProvider', 'keyGroup', 'metrics', 'spans'] as const;

/**
 * Records herdless' metrics and spans with OpenTelemetry, for every cache in the process (and caches created
 * later), until `stop()`. Call it once per process: each call records everything again.
 *
 * Metrics: `herdless.requests` (by `herdless.outcome`, `herdless.tier`, `error.type`), `herdless.factory.duration`
 * and `herdless.wait.duration` (seconds), `herdless.leases`, `herdless.refreshes`, `herdless.stale_served`,
 * `herdless.redis.errors`, and the memory tier's `herdless.l1.entry.count`, `herdless.l1.usage` (bytes) and
 * `herdless.l1.evictions`; every one has `herdless.namespace`, and `herdless.key_group` with a `keyGroup`.
 *
 * Spans: a `herdless.miss` span per call that misses, child of the caller's active span, with its outcome;
 * the function runs inside it, so the spans the function starts are its children. A `herdless.refresh` span per
 * background refresh that runs the function. Hits make no span.
 *
 * @example
 * ```ts
 * import { metrics, trace } from '@opentelemetry/api';
 * import { createCache } from 'herdless';
 * import { instrument } from 'herdless/otel';
 *
 * const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: 'catalog', l1: true });
 * const telemetry = instrument({
 *   meterProvider: metrics.getMeterProvider(),
 *   tracerProvider: trace.getTracerProvider(),
 *   keyGroup: (key) => key.split(':')[0],   // 'product:42' -> herdless.key_group 'product' (every call is then traced)
 * });
 *
 * await cache.getOrSet('product:42', () => db.product(42));
 * // herdless.requests{herdless.namespace="catalog", herdless.outcome="lead", herdless.key_group="product"} 1
 * // span herdless.miss (herdless.outcome="lead") > the database query's span
 *
 * telemetry.stop();
 * ```
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object');
  checkKnown(options, OPTIONS);
  checkMeterOptions(options);
  for (const flag of ['metrics', 'spans'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new InvalidOptionError(flag, options[flag], 'a boolean');
  }
  const meterProvider = options.meterProvider ?? globalMetrics.getMeterProvider();
  const tracerProvider = options.tracerProvider ?? globalTrace.getTracerProvider();
  if (typeof meterProvider?.getMeter !== 'function') throw new InvalidOptionError('meterProvider', meterProvider, 'an OpenTelemetry MeterProvider');
  if (typeof tracerProvider?.getTracer !== 'function') throw new InvalidOptionError('tracerProvider', tracerProvider, 'an OpenTelemetry TracerProvider');

  const stops: (() => void)[] = [];
  if (options.metrics !== false) stops.push(startMeter(new OtelSink(meterProvider.getMeter(SCOPE)), options));
  if (options.spans !== false) stops.push(startSpans(tracerProvider.getTracer(SCOPE), options.keyGroup));
  return {
    stop() {
      for (const stop of stops.splice(0)) stop();
    },
  };
}

/** herdless' metrics as OpenTelemetry instruments; the meter's attributes are OpenTelemetry's already. */
class OtelSink implements MetricSink {
  private readonly counters = new Map<MetricDefinition, Counter>();
  private readonly histograms = new Map<MetricDefinition, Histogram>();
  private readonly observables = new Map<MetricDefinition, Observable>();

  constructor(meter: Meter) {
    for (const metric of Object.values(METRICS) as MetricDefinition[]) {
      const options = { unit: metric.unit, description: metric.description };
      if (metric.kind === 'counter') this.counters.set(metric, meter.createCounter(metric.otel, options));
      // OpenTelemetry's default buckets are for milliseconds; these are seconds (ignored by an API before 1.7).
      else if (metric.kind === 'histogram') this.histograms.set(metric, meter.createHistogram(metric.otel, { ...options, advice: { explicitBucketBoundaries: [...DURATION_BUCKETS] } }));
      // Entries and bytes add up across caches and namespaces: an UpDownCounter, not a gauge.
      else if (metric.kind === 'gauge') this.observables.set(metric, meter.createObservableUpDownCounter(metric.otel, options));
      else this.observables.set(metric, meter.createObservableCounter(metric.otel, options));
    }
  }

  count(metric: MetricDefinition, value: number, attributes: Attributes): void {
    this.counters.get(metric)?.add(value, attributes as OtelAttributes);
  }

  record(metric: MetricDefinition, value: number, attributes: Attributes): void {
    this.histograms.get(metric)?.record(value, attributes as OtelAttributes);
  }

  observe(metric: MetricDefinition, read: (report: (value: number, attributes: Attributes) => void) => void): () => void {
    const observable = this.observables.get(metric);
    if (observable === undefined) return () => undefined;
    const callback: ObservableCallback = (result) => read((value, attributes) => result.observe(value, attributes as OtelAttributes));
    observable.addCallback(callback);
    return () => observable.removeCallback(callback);
  }
}
