import diagnostics from 'node:diagnostics_channel';
import type { Cache } from '../cache';

/*
 * What herdless publishes on node:diagnostics_channel (README, "Observability"). Invariant: with no
 * subscriber, nothing is built for it: a call checks one `hasSubscribers` and goes on as if the channels
 * did not exist. A subscriber receives the very context object the call writes its outcome into, so the
 * outcome is set before `asyncEnd` (or `error`) is published.
 *
 * Tracing channels (start, end, asyncStart, asyncEnd, error, as Node defines them):
 *   herdless:getOrSet        one per call, cached functions and methods included   GetOrSetContext
 *   herdless:refresh         one per background refresh attempt                    RefreshContext
 *   herdless:get, herdless:set, herdless:delete, herdless:invalidateTags, herdless:clear   OperationContext
 *   herdless:miss            one per call that found no usable value, around the lease conversation,
 *                            whether or not herdless:getOrSet is traced: a GetOrSetContext (the call's
 *                            own when it is traced). A subscriber of its start may set `runFactory`.
 * Plain channel:
 *   herdless:error           something went wrong with Redis or a stored value; the call was answered
 *                            anyway (the 'error' event's argument)                 ErrorMessage
 */

/** How a getOrSet call got its value. */
export type Outcome =
  /** A fresh value, from `tier`. */
  | 'hit'
  /** A stale value (past its ttl, within grace), from `tier`: Redis, or memory when Redis could not be reached. */
  | 'stale'
  /** This call held the key's lease and ran the function; its result was stored. */
  | 'lead'
  /** Another caller (anywhere in the fleet) computed the value; this call waited for it. */
  | 'wait'
  /** The holder this call waited for died or lost its lease; this call took the lease over and ran the function. */
  | 'takeover'
  /** This call ran the function under the lease, but its result was not stored: it lost the lease, or a tag was invalidated meanwhile. */
  | 'fence'
  /** With softTimeout: the value a refresh produced while this call waited for it. */
  | 'refresh'
  /** Joined a call for the same key already in flight in this process, and got its answer. */
  | 'joined'
  /** Redis failed or could not be reached: the function ran without the cache. */
  | 'uncached'
  /** hardTimeout or wait.timeout ran out: this call rejected with TimeoutError or WaitTimeoutError, or ran the function itself. */
  | 'timeout';

/** The context of one getOrSet call on `herdless:getOrSet` (and `herdless:miss`). */
export interface GetOrSetContext {
  /** The cache the call was made on. */
  readonly cache: Cache;
  /** Its namespace: a bounded attribute, where the key is not. */
  readonly namespace: string;
  /** The key as the caller passed it. Keys are unbounded: do not use it as a metric attribute. */
  readonly key: string;
  /** Set when the call settles, before `asyncEnd` and `error` are published. */
  outcome: Outcome | undefined;
  /** Where a hit or stale value came from. */
  tier: 'memory' | 'redis' | undefined;
  /** How long the function ran, in milliseconds, when this call ran it (lead, takeover, fence, uncached, a timeout's own run). */
  factoryMs: number | undefined;
  /** How long this call waited for another caller's computation, in milliseconds (wait). */
  waitMs: number | undefined;
  /**
   * Set by a subscriber of the start of `herdless:miss` (or of `herdless:getOrSet`): runs the function, so
   * it may run inside the subscriber's own context (the OpenTelemetry adapter makes the miss's span the
   * function's parent). Must call `run` once and return what it returns.
   */
  runFactory: (<T>(run: () => T) => T) | undefined;
  /** Set by Node's tracing channel when the call rejects. */
  error?: unknown;
  /** Set by Node's tracing channel when the call resolves. */
  result?: unknown;
}

/** How a background refresh attempt ended. */
export type RefreshOutcome =
  /** This process held the lease, ran the function and stored its result. */
  | 'refreshed'
  /** The function threw: the stale value is still served, and no process refreshes before refreshBackoff. */
  | 'failed'
  /** This process ran the function but its result was not stored (the lease was lost, or a tag invalidated). */
  | 'fence'
  /** Another process holds the key's lease: the refresh runs there. */
  | 'elsewhere'
  /** A refresh failed recently somewhere: none starts before refreshBackoff. */
  | 'backoff'
  /** A newer value was already stored. */
  | 'newer'
  /** Redis failed or could not be reached; nothing was refreshed. */
  | 'unavailable';

/** The context of one background refresh attempt on `herdless:refresh`. */
export interface RefreshContext {
  /** The cache the refresh runs for. */
  readonly cache: Cache;
  /** Its namespace. */
  readonly namespace: string;
  /** The key being refreshed (unbounded: not a metric attribute). */
  readonly key: string;
  /** Set when the attempt ends, before `asyncEnd` is published. */
  outcome: RefreshOutcome | undefined;
  /** How long the function ran, in milliseconds, when this attempt ran it. */
  factoryMs: number | undefined;
  /** As on GetOrSetContext: set by a subscriber of this channel's `start`, runs the function in its context. */
  runFactory: (<T>(run: () => T) => T) | undefined;
  /** Set by Node's tracing channel if the attempt rejects (it does not: a refresh's failure is its outcome). */
  error?: unknown;
  /** Set by Node's tracing channel: the fresh value, or an internal marker when there is none. */
  result?: unknown;
}

/** The context of get, set, delete, invalidateTags and clear on their tracing channels. */
export interface OperationContext {
  /** The cache the operation was called on. */
  readonly cache: Cache;
  /** Its namespace. */
  readonly namespace: string;
  /** Which operation: each has its tracing channel, `herdless:<operation>`. */
  readonly operation: 'get' | 'set' | 'delete' | 'invalidateTags' | 'clear';
  /** get, set, delete. */
  readonly key: string | undefined;
  /** invalidateTags. */
  readonly tags: readonly string[] | undefined;
  /** Set by Node's tracing channel when the operation rejects. */
  error?: unknown;
  /** Set by Node's tracing channel when it resolves: get's value, delete's boolean. */
  result?: unknown;
}

/** A message on `herdless:error`. */
export interface ErrorMessage {
  /** The cache that met the error. */
  readonly cache: Cache;
  /** Its namespace. */
  readonly namespace: string;
  /** What went wrong (a RedisUnavailableError, most often). */
  readonly error: unknown;
  /** The key of the call it happened in, when there was one. */
  readonly key: string | undefined;
}

/** The channel names, for `diagnostics_channel.tracingChannel(name)` and `diagnostics_channel.subscribe(name)`. */
export const CHANNELS = {
  /** Tracing channel: one trace per getOrSet call ({@link GetOrSetContext}). */
  getOrSet: 'herdless:getOrSet',
  /** Tracing channel: one trace per background refresh attempt ({@link RefreshContext}). */
  refresh: 'herdless:refresh',
  /** Tracing channel: get ({@link OperationContext}). */
  get: 'herdless:get',
  /** Tracing channel: set. */
  set: 'herdless:set',
  /** Tracing channel: delete. */
  delete: 'herdless:delete',
  /** Tracing channel: invalidateTags. */
  invalidateTags: 'herdless:invalidateTags',
  /** Tracing channel: clear. */
  clear: 'herdless:clear',
  /** Tracing channel: a call found no usable value; its {@link GetOrSetContext}, around the lease conversation (a subscriber of its start may set runFactory). */
  miss: 'herdless:miss',
  /** Plain channel: an {@link ErrorMessage} for each 'error' event. */
  error: 'herdless:error',
} as const;

// Node keeps one channel per name, whoever asks for it: subscribers and herdless meet on these.
export const getOrSetChannel = diagnostics.tracingChannel<GetOrSetContext>(CHANNELS.getOrSet);
export const refreshChannel = diagnostics.tracingChannel<RefreshContext>(CHANNELS.refresh);
export const operationChannels = {
  get: diagnostics.tracingChannel<OperationContext>(CHANNELS.get),
  set: diagnostics.tracingChannel<OperationContext>(CHANNELS.set),
  delete: diagnostics.tracingChannel<OperationContext>(CHANNELS.delete),
  invalidateTags: diagnostics.tracingChannel<OperationContext>(CHANNELS.invalidateTags),
  clear: diagnostics.tracingChannel<OperationContext>(CHANNELS.clear),
};
export const missChannel = diagnostics.tracingChannel<GetOrSetContext>(CHANNELS.miss);
export const errorChannel = diagnostics.channel(CHANNELS.error);
