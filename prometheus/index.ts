/**
 * `herdless/prometheus`: herdless' metrics on a `prom-client` registry (prom-client 15), for a `/metrics`
 * endpoint scraped by Prometheus, without OpenTelemetry. The same metrics as `herdless/otel`, named the
 * Prometheus way.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { register } from 'prom-client';
 * import { collectMetrics } from 'herdless/prometheus';
 *
 * collectMetrics(); // prom-client's default registry
 * createServer(async (request, response) => {
 *   response.setHeader('Content-Type', register.contentType);
 *   response.end(await register.metrics());
 * }).listen(9464);
 * ```
 *
 * @module herdless/prometheus
 */
import { Counter, Gauge, Histogram, register as defaultRegistry, type Registry, type RegistryContentType } from 'prom-client';
import { InvalidOptionError } from '../src/errors';
import { checkKnown, checkMeterOptions, DURATION_BUCKETS, labelsOf, METRICS, startMeter, type Attributes, type MetricDefinition, type MetricSink } from '../src/telemetry/meter';

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** The registry the metrics are registered on. Default: prom-client's global `register`. */
  readonly registry?: Registry<RegistryContentType>;
  /** Prepended to every metric name. Default `'herdless_'`. */
  readonly prefix?: string;
  /**
   * Groups keys into a few values for a `key_group` label (added only when this is given): keys themselves
   * are unbounded, and never a label. Return undefined to leave a key ungrouped. It runs on every call, so
   * keep it cheap; if it throws, the key is left ungrouped.
   *
   * @example
   * ```ts
   * collectMetrics({ keyGroup: (key) => key.split(':')[0] }); // 'user:42' -> key_group="user"
   * ```
   */
  readonly keyGroup?: (key: string, namespace: string) => string | undefined;
  /** Buckets of the duration histograms, in seconds, increasing. Default: 1 ms to 60 s (0.001, 0.0025, 0.005, ... 10, 30, 60). */
  readonly buckets?: readonly number[];
}

/** What {@link collectMetrics} returns. */
export interface MetricsCollection {
  /** Stops counting and removes the metrics it registered from the registry. Idempotent. */
  stop(): void;
}

const OPTIONS = ['registry', 'prefix', 'keyGroup', 'buckets'] as const;

/**
 * Registers herdless' metrics on a prom-client registry and keeps them up to date for every cache in the
 * process (and caches created later), until `stop()`.
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `herdless_requests_total` | counter | namespace, outcome, tier (hit, stale), error_type (rejected calls) |
 * | `herdless_factory_duration_seconds` | histogram | namespace, operation (getOrSet, refresh), outcome |
 * | `herdless_wait_duration_seconds` | histogram | namespace, outcome |
 * | `herdless_leases_total` | counter | namespace, outcome (lead, takeover, fence), operation |
 * | `herdless_refreshes_total` | counter | namespace, outcome |
 * | `herdless_stale_served_total` | counter | namespace, tier |
 * | `herdless_redis_errors_total` | counter | namespace, error_type |
 * | `herdless_l1_entries`, `herdless_l1_bytes` | gauge | namespace |
 * | `herdless_l1_evictions_total` | counter | namespace |
 *
 * and `key_group` on all but the l1 metrics when `keyGroup` is given.
 *
 * One collection per registry and prefix: a second call on the same registry, while the first is not
 * stopped, throws InvalidOptionError (option `registry`) rather than count every call twice.
 *
 * @throws InvalidOptionError for a bad option, or a registry that already has one of these metrics.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { Registry } from 'prom-client';
 * import { createCache } from 'herdless';
 * import { collectMetrics } from 'herdless/prometheus';
 *
 * const registry = new Registry();
 * const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: 'catalog', l1: true });
 * const herdless = collectMetrics({ registry });
 *
 * createServer(async (request, response) => {
 *   if (request.url !== '/metrics') return void response.writeHead(404).end();
 *   response.setHeader('Content-Type', registry.contentType);
 *   response.end(await registry.metrics());
 * }).listen(9464);
 * // herdless_requests_total{namespace="catalog",key_group="product",outcome="hit",tier="memory"} 1520
 *
 * process.once('SIGTERM', () => herdless.stop());
 * ```
 */
export function collectMetrics(options: CollectMetricsOptions = {}): MetricsCollection {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', options, 'an object');
  checkKnown(options, OPTIONS);
  checkMeterOptions(options);
  const registry = options.registry ?? defaultRegistry;
  if (typeof registry?.getSingleMetric !== 'function' || typeof registry.registerMetric !== 'function') {
    throw new InvalidOptionError('registry', registry, "a prom-client Registry (new Registry(), or prom-client's register)");
  }
  const prefix = options.prefix ?? 'herdless_';
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new InvalidOptionError('prefix', prefix, 'a string of letters, digits, _ and :, not starting with a digit');
  }
  const buckets = options.buckets ?? DURATION_BUCKETS;
  if (!Array.isArray(buckets) || buckets.length === 0 || !buckets.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && (i === 0 || bound > buckets[i - 1]))) {
    throw new InvalidOptionError('buckets', buckets, 'a non-empty array of finite numbers of seconds, increasing');
  }
  for (const metric of Object.values(METRICS)) {
    const name = prefix + metric.prometheus;
    if (registry.getSingleMetric(name) !== undefined) {
      throw new InvalidOptionError(
        'registry',
        registry,
        '',
        `herdless: the registry already has a metric named '${name}': collectMetrics() was called on it and not stopped, or another metric has that name; ` +
          `call the earlier collection's stop() first, or pass another registry or prefix`,
      );
    }
  }
  const sink = new PrometheusSink(registry, prefix, options.keyGroup !== undefined, buckets);
  let stopMeter: () => void;
  try {
    stopMeter = startMeter(sink, options);
  } catch (error) {
    sink.remove();
    throw error;
  }
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      stopMeter();
      sink.remove();
    },
  };
}

type Reader = (report: (value: number, attributes: Attributes) => void) => void;

/** herdless' metrics as prom-client metrics; attributes become labels by each metric's definition. */
class PrometheusSink implements MetricSink {
  private readonly counters = new Map<MetricDefinition, Counter>();
  private readonly histograms = new Map<MetricDefinition, Histogram>();
  /** What each observed metric reports when the registry collects it. */
  private readonly readers = new Map<MetricDefinition, Reader>();
  private readonly names: string[] = [];

  constructor(
    private readonly registry: Registry<RegistryContentType>,
    prefix: string,
    keyGroups: boolean,
    buckets: readonly number[],
  ) {
    const readers = this.readers;
    try {
      for (const metric of Object.values(METRICS) as MetricDefinition[]) {
        const config = { name: prefix + metric.prometheus, help: `${metric.description} (${metric.unit})`, labelNames: labelsOf(metric, keyGroups), registers: [registry] };
        if (metric.kind === 'counter') this.counters.set(metric, new Counter(config));
        else if (metric.kind === 'histogram') this.histograms.set(metric, new Histogram({ ...config, buckets: [...buckets] }));
        else if (metric.kind === 'gauge') {
          new Gauge({
            ...config,
            collect() {
              // The memory tiers as they are now: a cache that is gone reports nothing.
              this.reset();
              readers.get(metric)?.((value, attributes) => this.set(labels(metric, attributes), value));
            },
          });
        } else {
          new Counter({
            ...config,
            collect() {
              this.reset();
              readers.get(metric)?.((value, attributes) => this.inc(labels(metric, attributes), value));
            },
          });
        }
        this.names.push(config.name);
      }
    } catch (error) {
      this.remove();
      throw error;
    }
  }

  count(metric: MetricDefinition, value: number, attributes: Attributes): void {
    this.counters.get(metric)?.inc(labels(metric, attributes), value);
  }

  record(metric: MetricDefinition, value: number, attributes: Attributes): void {
    this.histograms.get(metric)?.observe(labels(metric, attributes), value);
  }

  observe(metric: MetricDefinition, read: Reader): () => void {
    this.readers.set(metric, read);
    return () => this.readers.delete(metric);
  }

  /** Removes every metric this sink registered. */
  remove(): void {
    for (const name of this.names.splice(0)) this.registry.removeSingleMetric(name);
  }
}

/** A data point's labels: each attribute under its metric's label name. */
function labels(metric: MetricDefinition, attributes: Attributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const attribute in attributes) {
    const label = metric.attributes[attribute as keyof Attributes];
    const value = attributes[attribute as keyof Attributes];
    if (label !== undefined && value !== undefined) out[label] = value;
  }
  return out;
}
