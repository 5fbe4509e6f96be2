import { performance } from 'node:perf_hooks';
import type { Cache } from '../cache';
import type { Factory } from '../protocol';
import { errorChannel, missChannel, operationChannels, refreshChannel, type GetOrSetContext, type OperationContext, type RefreshContext } from './channels';
import { Counters } from './stats';

/** A traced call's context: a getOrSet's, or a background refresh's (whose outcome the refresher settles last). */
export type Trace = GetOrSetContext | RefreshContext;

/**
 * Where a call's outcomes go: the cache's counters (always), its events (when listened to), and the
 * call's trace context (only when a diagnostics subscriber listens; `trace` is undefined otherwise, and
 * nothing is built for it). Invariants:
 * - each outcome point of the protocol reports here once, so the counters, the events and the traces
 *   never disagree;
 * - a trace's outcome is the last one reported: a call that led and was then fenced says 'fence', one
 *   that led and then lost Redis says 'uncached'; a takeover stays a takeover when it goes on to lead;
 * - nothing here throws into the protocol: a listener's or subscriber's failure of 'error' is swallowed
 *   (faults are reported from timers, where a throw would crash the process).
 */
export class Observer {
  readonly counters = new Counters();

  constructor(
    private readonly cache: Cache,
    private readonly namespace: string,
  ) {}

  hit(key: string, tier: 'memory' | 'redis', trace: GetOrSetContext | undefined): void {
    if (tier === 'memory') this.counters.memoryHits++;
    else this.counters.redisHits++;
    if (trace !== undefined) {
      trace.outcome = 'hit';
      trace.tier = tier;
    }
    if (this.cache.listenerCount('hit') !== 0) this.cache.emit('hit', key, tier);
  }

  /** A value found by the lease conversation itself (written between the GET and the lease script): no event. */
  found(trace: GetOrSetContext | undefined): void {
    if (trace === undefined) return;
    trace.outcome = 'hit';
    trace.tier = 'redis';
  }

  stale(key: string, tier: 'memory' | 'redis', trace: GetOrSetContext | undefined): void {
    this.counters.stale++;
    if (trace !== undefined) {
      trace.outcome = 'stale';
      trace.tier = tier;
    }
    if (this.cache.listenerCount('stale') !== 0) this.cache.emit('stale', key);
  }

  /** The value a refresh produced while this call (softTimeout) waited for it. */
  refreshed(trace: GetOrSetContext | undefined): void {
    if (trace !== undefined) trace.outcome = 'refresh';
  }

  /** The call enters the lease conversation: `herdless:miss` subscribers may set its `runFactory`. */
  miss(key: string, trace: GetOrSetContext | undefined): void {
    this.counters.misses++;
    if (trace !== undefined && missChannel.hasSubscribers) missChannel.publish(trace);
    if (this.cache.listenerCount('miss') !== 0) this.cache.emit('miss', key);
  }

  /** This call holds the lease and runs the function; a refresh's lead is counted as a refresh. */
  lead(key: string, trace: Trace | undefined, refresh: boolean): void {
    if (!refresh) {
      this.counters.leads++;
      if (trace !== undefined && trace.outcome !== 'takeover') (trace as GetOrSetContext).outcome = 'lead';
    }
    if (this.cache.listenerCount('lead') !== 0) this.cache.emit('lead', key);
  }

  wait(key: string, trace: Trace | undefined, refresh: boolean): void {
    this.counters.waits++;
    if (trace !== undefined && !refresh) (trace as GetOrSetContext).outcome = 'wait';
    if (this.cache.listenerCount('wait') !== 0) this.cache.emit('wait', key);
  }

  takeover(key: string, trace: Trace | undefined, refresh: boolean): void {
    this.counters.takeovers++;
    if (trace !== undefined && !refresh) (trace as GetOrSetContext).outcome = 'takeover';
    if (this.cache.listenerCount('takeover') !== 0) this.cache.emit('takeover', key);
  }

  fence(key: string, trace: Trace | undefined): void {
    this.counters.fenced++;
    if (trace !== undefined) trace.outcome = 'fence';
    if (this.cache.listenerCount('fence') !== 0) this.cache.emit('fence', key);
  }

  /** This process starts a background refresh (it holds the key's lease). */
  refresh(key: string): void {
    this.counters.refreshes++;
    if (this.cache.listenerCount('refresh') !== 0) this.cache.emit('refresh', key);
  }

  refreshFailed(error: unknown, key: string): void {
    this.counters.refreshFailures++;
    if (this.cache.listenerCount('refresh-failed') !== 0) this.cache.emit('refresh-failed', error, key);
  }

  uncached(trace: Trace | undefined): void {
    this.counters.uncached++;
    if (trace !== undefined) trace.outcome = isRefresh(trace) ? 'unavailable' : 'uncached';
  }

  timeout(trace: GetOrSetContext | undefined): void {
    this.counters.timeouts++;
    if (trace !== undefined) trace.outcome = 'timeout';
  }

  /**
   * Something went wrong with Redis or a stored value; the call was answered anyway. 'error' is emitted only
   * to listeners: an EventEmitter without one would throw and crash the caller.
   */
  fault(error: unknown, key: string | undefined): void {
    this.counters.errors++;
    if (errorChannel.hasSubscribers) errorChannel.publish({ cache: this.cache, namespace: this.namespace, error, key });
    if (this.cache.listenerCount('error') === 0) return;
    try {
      this.cache.emit('error', error, key);
    } catch {
      // the listener's own failure; nothing herdless can do with it
    }
  }

  /** Runs the function of a traced call: inside the subscriber's context if it asked for one, timed. */
  async run(factory: Factory<unknown>, trace: Trace): Promise<unknown> {
    const started = performance.now();
    try {
      return await (trace.runFactory === undefined ? factory() : trace.runFactory(factory));
    } finally {
      trace.factoryMs = performance.now() - started;
    }
  }

  /** A getOrSet's trace context, when `herdless:getOrSet` has a subscriber. */
  getOrSetContext(key: string): GetOrSetContext {
    return { cache: this.cache, namespace: this.namespace, key, outcome: undefined, tier: undefined, factoryMs: undefined, waitMs: undefined, runFactory: undefined };
  }

  /** Runs a background refresh attempt, traced on `herdless:refresh` when it has a subscriber. */
  refreshing(key: string, attempt: (trace: RefreshContext | undefined) => Promise<unknown>): Promise<unknown> {
    if (!refreshChannel.hasSubscribers) return attempt(undefined);
    const trace: RefreshContext = { cache: this.cache, namespace: this.namespace, key, outcome: undefined, factoryMs: undefined, runFactory: undefined };
    return refreshChannel.tracePromise(() => attempt(trace), trace);
  }

  /** Runs get, set, delete, invalidateTags or clear, traced on its channel when that has a subscriber. */
  operation<T>(operation: OperationContext['operation'], key: string | undefined, tags: readonly string[] | undefined, run: () => Promise<T>): Promise<T> {
    const channel = operationChannels[operation];
    if (!channel.hasSubscribers) return run();
    return channel.tracePromise(run, { cache: this.cache, namespace: this.namespace, operation, key, tags });
  }
}

function isRefresh(trace: Trace): trace is RefreshContext {
  return !('tier' in trace);
}
