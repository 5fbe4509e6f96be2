import { performance } from 'node:perf_hooks';
import type { Cache } from '../cache';
import type { Factory } from '../protocol';
import { errorChannel, getOrSetChannel, missChannel, operationChannels, refreshChannel, type GetOrSetContext, type OperationContext, type Outcome, type RefreshContext, type RefreshOutcome } from './channels';
import { refreshRecord, type CallRecord } from './record';
import { Counters } from './stats';

/**
 * Where a call's outcomes go: its record (telemetry/record.ts), counted in the cache's counters once it
 * settles; the cache's events, when listened to; and the public context of a diagnostics subscriber,
 * when one listens. Invariants:
 * - each outcome point of the protocol reports here once, so the counters, the events and the traces
 *   never disagree;
 * - without a subscriber nothing is built: a hit notes its outcome in the flight it already has;
 * - nothing here throws into the protocol: a listener's failure of 'error' is swallowed (faults are
 *   reported from timers, where a throw would crash the process).
 */
export class Observer {
  readonly counters = new Counters();

  constructor(
    private readonly cache: Cache,
    private readonly namespace: string,
  ) {}

  /** A fresh value from the memory tier: answered before any flight, so counted here. */
  memoryHit(key: string, trace: GetOrSetContext | undefined): void {
    this.counters.memoryHits++;
    if (trace !== undefined) {
      trace.outcome = 'hit';
      trace.tier = 'memory';
    }
    if (this.cache.listenerCount('hit') !== 0) this.cache.emit('hit', key, 'memory');
  }

  hit(key: string, record: CallRecord): void {
    note(record, 'hit', 'redis');
    if (this.cache.listenerCount('hit') !== 0) this.cache.emit('hit', key, 'redis');
  }

  /** A value found by the lease conversation itself (written between the GET and the lease script): no event. */
  found(record: CallRecord): void {
    note(record, 'hit', 'redis');
  }

  stale(key: string, tier: 'memory' | 'redis', record: CallRecord): void {
    note(record, 'stale', tier);
    if (this.cache.listenerCount('stale') !== 0) this.cache.emit('stale', key);
  }

  /** The value a refresh produced while this call (softTimeout) waited for it. */
  refreshed(record: CallRecord): void {
    note(record, 'refresh', undefined);
  }

  /** The call enters the lease conversation (`run`), traced on `herdless:miss` when that has a subscriber. */
  miss(key: string, record: CallRecord, run: () => Promise<unknown>): Promise<unknown> {
    this.counters.misses++;
    if (this.cache.listenerCount('miss') !== 0) this.cache.emit('miss', key);
    return this.missing(key, record, run);
  }

  /**
   * The call runs its function for want of a usable value: in the lease conversation, or without the
   * cache when Redis failed before it (not counted as a miss: nothing was found missing). Traced on
   * `herdless:miss` when that has a subscriber.
   */
  missing(key: string, record: CallRecord, run: () => Promise<unknown>): Promise<unknown> {
    if (!missChannel.hasSubscribers) return run();
    // A traced call's own context, or one made for the miss: subscribers may set its runFactory.
    const context = (record.context ??= this.getOrSetContext(key)) as GetOrSetContext;
    return missChannel.tracePromise(run, context);
  }

  /** This call holds the lease and runs the function; a refresh's lead is noted by the refresher. */
  lead(key: string, record: CallRecord, refresh: boolean): void {
    if (!refresh && record.outcome !== 'takeover') note(record, 'lead', undefined);
    if (this.cache.listenerCount('lead') !== 0) this.cache.emit('lead', key);
  }

  wait(key: string, record: CallRecord, refresh: boolean): void {
    if (!refresh) note(record, 'wait', undefined);
    if (this.cache.listenerCount('wait') !== 0) this.cache.emit('wait', key);
  }

  takeover(key: string, record: CallRecord, refresh: boolean): void {
    if (!refresh) note(record, 'takeover', undefined);
    if (this.cache.listenerCount('takeover') !== 0) this.cache.emit('takeover', key);
  }

  fence(key: string, record: CallRecord): void {
    note(record, 'fence', undefined);
    if (this.cache.listenerCount('fence') !== 0) this.cache.emit('fence', key);
  }

  /** This process starts a background refresh (it holds the key's lease). */
  refresh(key: string): void {
    if (this.cache.listenerCount('refresh') !== 0) this.cache.emit('refresh', key);
  }

  refreshFailed(error: unknown, key: string): void {
    if (this.cache.listenerCount('refresh-failed') !== 0) this.cache.emit('refresh-failed', error, key);
  }

  uncached(record: CallRecord): void {
    note(record, 'uncached', undefined);
  }

  timeout(record: CallRecord): void {
    note(record, 'timeout', undefined);
  }

  /** How long the call waited for another's computation. */
  waited(record: CallRecord, ms: number): void {
    record.waitMs = ms;
    if (record.context !== undefined && 'waitMs' in record.context) record.context.waitMs = ms;
  }

  /** A flight settled: its call is counted by its outcome. */
  settled(record: CallRecord): void {
    const outcome = record.outcome as Outcome | undefined;
    if (outcome !== undefined) this.counters.count(outcome, record.tier === 'memory');
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

  /** Runs the function for `record`: inside a subscriber's context if it asked for one (runFactory), timed. */
  async run(factory: Factory<unknown>, record: CallRecord): Promise<unknown> {
    const started = performance.now();
    try {
      return await call(factory, record);
    } finally {
      this.ran(record, performance.now() - started);
    }
  }

  /** How long the function ran for `record`. */
  ran(record: CallRecord, ms: number): void {
    record.factoryMs = ms;
    if (record.context !== undefined) record.context.factoryMs = ms;
  }

  /**
   * A getOrSet traced on `herdless:getOrSet` (the caller checked that it has a subscriber). A refusal (a
   * closed cache, a bad key) rejects too, so every traced call ends with asyncEnd.
   */
  traced(key: string, answer: (trace: GetOrSetContext) => Promise<unknown>): Promise<unknown> {
    const trace = this.getOrSetContext(key);
    return getOrSetChannel.tracePromise(() => {
      try {
        return answer(trace);
      } catch (error) {
        return Promise.reject(error);
      }
    }, trace);
  }

  /** A getOrSet's trace context, when `herdless:getOrSet` (or `herdless:miss`) has a subscriber. */
  getOrSetContext(key: string): GetOrSetContext {
    return { cache: this.cache, namespace: this.namespace, key, outcome: undefined, tier: undefined, factoryMs: undefined, waitMs: undefined, runFactory: undefined };
  }

  /** Runs a background refresh attempt with its record, traced on `herdless:refresh` when that has a subscriber; counted when it settles. */
  refreshing(key: string, attempt: (record: CallRecord) => Promise<unknown>): Promise<unknown> {
    const traced = refreshChannel.hasSubscribers;
    const context: RefreshContext | undefined = traced ? { cache: this.cache, namespace: this.namespace, key, outcome: undefined, factoryMs: undefined, runFactory: undefined } : undefined;
    const record = refreshRecord(context);
    const count = () => {
      const outcome = record.outcome as RefreshOutcome | undefined;
      if (outcome !== undefined) this.counters.refreshes[outcome]++;
    };
    // A refresh attempt never rejects (refresher.ts); the count comes before the trace's asyncEnd.
    const counted = () => attempt(record).finally(count);
    return context === undefined ? counted() : refreshChannel.tracePromise(counted, context);
  }

  /** Runs get, set, delete, invalidateTags or clear, traced on its channel when that has a subscriber. */
  operation<T>(operation: OperationContext['operation'], key: string | undefined, tags: readonly string[] | undefined, run: () => Promise<T>): Promise<T> {
    const channel = operationChannels[operation];
    if (!channel.hasSubscribers) return run();
    return channel.tracePromise(run, { cache: this.cache, namespace: this.namespace, operation, key, tags });
  }
}

/** The function, through its context's runFactory when a subscriber set one. */
export function call(factory: Factory<unknown>, record: CallRecord): unknown {
  const runFactory = record.context?.runFactory;
  return runFactory === undefined ? factory() : runFactory(factory);
}

/** Notes an outcome in the record, and in its public context when a subscriber listens. */
export function note(record: CallRecord, outcome: Outcome | RefreshOutcome, tier: 'memory' | 'redis' | undefined): void {
  record.outcome = outcome;
  if (tier !== undefined) record.tier = tier;
  const context = record.context;
  if (context === undefined) return;
  context.outcome = outcome as never;
  if (tier !== undefined && 'tier' in context) context.tier = tier;
}
