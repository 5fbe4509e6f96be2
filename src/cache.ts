import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { RedisClusterOptions } from 'redis';
import { Bell } from './bus/bell';
import { Waker } from './bus/waker';
import { EnvelopeFormat } from './envelope';
import { checkedAt, ClosedError, EncodeError, InvalidOptionError, located, RedisUnavailableError, TimeoutError, WaitTimeoutError } from './errors';
import { within, UNBOUNDED, type Patience } from './freshness/patience';
import { Age, judge, type Freshness } from './freshness/policy';
import { Refreshes } from './freshness/refreshes';
import { KeyLayout, checkKey, type KeyFamily } from './keys';
import { decodeFailure, encodeFailure } from './lease/failure';
import { Lease, type LeaseContext } from './lease/lease';
import { leaseScripts, type LeaseScripts } from './lease/scripts';
import { callFreshness, setFreshness, settings, type CacheOptions, type CallOptions, type SetOptions, type Settings } from './options';
import { SingleFlight, type Flight } from './singleflight';
import { ClusterStore, type RedisCluster } from './store/cluster';
import { StandaloneStore } from './store/standalone';
import type { ScriptReply, Store } from './store/store';

/** Events a cache emits; each listener receives the cache key. */
export interface CacheEvents {
  /** A value was found. */
  hit: [key: string];
  /** No value was found; this call leads or waits. */
  miss: [key: string];
  /** This call holds the lease and runs the function. */
  lead: [key: string];
  /** Another caller holds the lease; this call waits for its result. */
  wait: [key: string];
  /** The lease this call waited on vanished without a value (its holder died); this call took it over. */
  takeover: [key: string];
  /** A stale value (past its ttl, within grace) was served. */
  stale: [key: string];
  /** This process started a background refresh: it holds the key's lease and runs the function. */
  refresh: [key: string];
  /** A refresh's function threw; the stale value is still served, and no refresh starts anywhere before refreshBackoff. */
  'refresh-failed': [error: unknown, key: string];
  /** A computed value was not written because this call no longer held the lease. */
  fence: [key: string];
  /** Something went wrong with Redis or a stored value; the call was answered anyway. */
  error: [error: unknown, key: string | undefined];
}

export type Factory<T> = () => T | PromiseLike<T>;

const KIND_VALUE = 0x76; // 'v'
const KIND_ERROR = 0x65; // 'e'
const KIND_LEAD = 0x6c; // 'l'
const KIND_WAIT = 0x77; // 'w'
const KIND_BACKOFF = 0x62; // 'b'

/** A refresh that produced no value: its caller serves what it has. */
const NOTHING: unique symbol = Symbol('nothing');
/** How many leading bytes of a value tell it apart from any other: the header and its timestamps, and then some. */
const UNUSABLE_HEAD = 64;
/** After Redis failed a refresh attempt, how long this process waits before the next. */
const REFRESH_RETRY_MS = 1_000;

/*
 * One call of getOrSet, in order:
 *   GET value                      hit -> done (one round trip, no script)
 *   acquire(value, lease)          value | you lead | someone leads
 *   lead:  run the function under a Lease (renewed, capped at maxHold); commit (fenced) or fail (shares the error)
 *   wait:  subscribe to the key's channel, then re-check with acquire until a value, an error or the lease
 *          comes free (takeover); woken by the channel, re-checking when the holder's lease would expire,
 *          and polling (jittered) only once the subscription may have lost a message (bus/waker.ts).
 * Any Redis failure answers the call by running the function without the cache.
 *
 * Invariants (each is stated again where it is kept):
 * - after delete() or set() resolves, or once this process sees its lease lost, no call that starts later
 *   is handed a value computed before it: such calls never join the flight in flight (singleflight.ts);
 * - a waiter takes a pushed value only from the lease its latest re-check saw, and the latest wake-up
 *   wins (bus/bell.ts);
 * - a lease always ends: committed, failed, released when Redis refuses the commit, released past
 *   lease.maxHold, or expired when Redis cannot be reached at all (lease/lease.ts);
 * - a same-process caller waits for another's computation no longer than a caller elsewhere (wait.timeout);
 * - whatever a function throws is handed back to its caller as it is; waiters get a plain Error carrying
 *   only allow-listed primitive fields (lease/failure.ts); nothing scheduled throws outside a promise;
 * - an unreadable stored value counts as a miss inside the protocol: one caller leads and its commit
 *   replaces it (lease/scripts.ts, acquire);
 * - keys and durations are checked where they are passed: no two keys share a Redis entry (keys.ts), and
 *   every duration fits a Node timer or a Redis expiry (duration.ts).
 */
export class Cache extends EventEmitter {
  readonly namespace: string;
  private readonly settings: Settings;
  private readonly keys: KeyLayout;
  private readonly format: EnvelopeFormat;
  private readonly store: Store;
  private readonly scripts: LeaseScripts;
  private readonly waker: Waker;
  private readonly flights: SingleFlight<unknown, Factory<unknown>>;
  /** forceFresh calls: coalesced among themselves, never joined by a read. */
  private readonly forced: SingleFlight<unknown, Factory<unknown>>;
  private readonly refreshes = new Refreshes();
  private readonly leases: LeaseContext;
  private closed = false;

  constructor(options?: CacheOptions) {
    super();
    this.settings = checkedAt('createCache', () => settings(options));
    this.namespace = this.settings.namespace;
    this.keys = new KeyLayout(this.namespace);
    this.format = new EnvelopeFormat(this.settings.codec);
    const onError = (error: unknown) => this.fault(error, undefined);
    const redis = this.settings.redis;
    const timeoutMs = this.settings.commandTimeoutMs;
    const kind = this.settings.redisKind;
    if (kind === 'v4-cluster' || kind === 'cluster-options') {
      this.scripts = leaseScripts('SPUBLISH');
      const options = { timeoutMs, scripts: Object.values(this.scripts), onError };
      this.store = new ClusterStore(kind === 'v4-cluster' ? (redis as RedisCluster) : (redis as { cluster: RedisClusterOptions }).cluster, options);
    } else {
      this.scripts = leaseScripts('PUBLISH');
      const client = redis as ConstructorParameters<typeof StandaloneStore>[0];
      this.store = new StandaloneStore(client, { timeoutMs, scripts: Object.values(this.scripts), onError }, kind);
    }
    this.waker = new Waker(this.store, timeoutMs, onError);
    this.store.onSubscriptionsLost = (resubscribe) => this.waker.lost(resubscribe);
    this.flights = new SingleFlight(this.settings.waitTimeoutMs, (key, factory) => this.waitedTooLong(key, factory));
    this.forced = new SingleFlight(this.settings.waitTimeoutMs, (key, factory) => this.waitedTooLong(key, factory));
    const cache = this;
    this.leases = {
      store: this.store,
      scripts: this.scripts,
      leaseTtlMs: this.settings.leaseTtlMs,
      maxHoldMs: this.settings.maxHoldMs,
      get closed() {
        return cache.closed;
      },
      fault: (error, key) => this.fault(error, key),
    };
  }

  /**
   * The cached value of `key`, or the result of `factory`, computed once across every process sharing
   * this Redis and namespace. Concurrent calls for a key in this process share one call, options included.
   */
  getOrSet<T>(key: string, factory: Factory<T>, options?: CallOptions): Promise<Awaited<T>> {
    try {
      if (this.closed) throw new ClosedError();
      checkKey(key);
      if (typeof factory !== 'function') throw new InvalidOptionError('factory', factory, 'a function that computes the value');
      const policy = callFreshness(options, this.settings.freshness);
      if (policy.forceFresh) return this.forced.do(key, (flight) => this.recompute(key, factory, policy, flight), factory) as Promise<Awaited<T>>;
      return this.flights.do(key, (flight) => this.load(key, factory, policy, flight), factory) as Promise<Awaited<T>>;
    } catch (error) {
      return Promise.reject(located(error, 'getOrSet'));
    }
  }

  /** The cached value while it is fresh, or undefined (none, past its ttl, or Redis cannot be reached). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new ClosedError();
    checkedAt('get', () => checkKey(key));
    let bytes: Buffer | null;
    try {
      bytes = await this.store.get(this.keys.value(key));
    } catch (error) {
      this.fault(error, key);
      return undefined;
    }
    const envelope = bytes === null ? undefined : this.read(key, bytes);
    return envelope && envelope.expiresAt > Date.now() ? (envelope.value as T) : undefined;
  }

  /** Writes a value directly. Voids a computation in flight for the key, so its older result cannot replace this one. */
  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    if (this.closed) throw new ClosedError();
    const policy = checkedAt('set', () => {
      checkKey(key);
      return setFreshness(options, this.settings.freshness);
    });
    const bytes = this.encode(key, value, policy.ttlMs, 0);
    const family = this.keys.family(key);
    const keep = String(policy.ttlMs + policy.graceMs);
    await this.invalidation(key, 'set', this.store.run(this.scripts.overwrite, [family.value, family.lease, family.channel, family.backoff], [bytes, keep]));
  }

  /**
   * Removes the value (a stale one too) and voids a computation in flight (it may have read data older
   * than this delete); its waiters wake and one recomputes. Resolves true if a value was removed.
   */
  async delete(key: string): Promise<boolean> {
    if (this.closed) throw new ClosedError();
    checkedAt('delete', () => checkKey(key));
    const family = this.keys.family(key);
    return (await this.invalidation(key, 'delete', this.store.run(this.scripts.invalidate, [family.value, family.lease, family.channel, family.backoff], []))) === 1;
  }

  /** Closes the connections this cache opened; a client you passed in stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }

  // The hit path: one GET, the decode, the age check. Written without async/await to keep it to the promises it needs.
  private load(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>): Promise<unknown> {
    return this.store.get(this.keys.value(key)).then(
      (bytes) => {
        if (bytes !== null) {
          const envelope = this.read(key, bytes);
          if (envelope) {
            const age = judge(envelope, Date.now(), policy);
            if (age === Age.Fresh) {
              this.emit('hit', key);
              return envelope.value;
            }
            if (age === Age.Early) {
              this.emit('hit', key);
              this.refreshLater(key, factory, policy, bytes);
              return envelope.value;
            }
            if (age === Age.Stale) return this.serveStale(key, factory, policy, flight, bytes, envelope.value);
          }
        }
        this.emit('miss', key);
        return this.miss(key, factory, policy, flight, bytes ?? undefined);
      },
      (error) => this.uncached(key, factory, error),
    );
  }

  /** forceFresh: whatever is stored now is not good enough; compute, or wait for a computation already running. */
  private recompute(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>): Promise<unknown> {
    return this.store.get(this.keys.value(key)).then(
      (bytes) => this.miss(key, factory, policy, flight, bytes ?? undefined),
      (error) => this.uncached(key, factory, error),
    );
  }

  /**
   * A stale value within grace: served, while one caller in the fleet refreshes it. With softTimeout the
   * caller first waits that long for the refresh (this process's, or the one running elsewhere); a failed
   * refresh is answered with the stale value too (stale-if-error).
   */
  private async serveStale(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, bytes: Buffer, stale: unknown): Promise<unknown> {
    if (policy.softTimeoutMs > 0) {
      const until = Date.now() + policy.softTimeoutMs;
      const attempt = this.refreshes.inFlight(key) ?? (this.refreshes.mayStart(key, Date.now(), true) ? this.refreshes.track(key, this.refresh(key, factory, policy, bytes, flight, until)) : undefined);
      if (attempt) {
        const fresh = await within(attempt, { until, late: () => NOTHING });
        if (fresh !== NOTHING) return fresh;
      }
    } else {
      this.refreshLater(key, factory, policy, bytes);
    }
    this.emit('stale', key);
    return stale;
  }

  /** Starts a background refresh of the value in `bytes`, unless this process already runs or defers one. */
  private refreshLater(key: string, factory: Factory<unknown>, policy: Freshness, bytes: Buffer): void {
    if (this.refreshes.mayStart(key, Date.now(), false)) this.refreshes.track(key, this.refresh(key, factory, policy, bytes, undefined, 0));
  }

  /**
   * One refresh attempt: takes the key's lease, as a miss would, and leads; or learns that a refresh runs
   * elsewhere or is backed off, and returns. Only a caller with patience (`until`) waits for another
   * process's refresh. Resolves to the fresh value, or NOTHING; never rejects.
   */
  private async refresh(key: string, factory: Factory<unknown>, policy: Freshness, bytes: Buffer, flight: Flight<unknown> | undefined, until: number): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      reply = (await this.acquire(key, family, token, '', bytes, true)) as ScriptReply[];
    } catch (error) {
      this.fault(error, key);
      this.refreshes.quietUntil(key, Date.now() + REFRESH_RETRY_MS, false);
      return NOTHING;
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) {
      this.emit('refresh', key);
      return this.lead(key, family, token, factory, policy, flight, true).catch(() => NOTHING);
    }
    if (kind === KIND_VALUE) return this.read(key, reply[1] as Buffer)?.value ?? NOTHING;
    if (kind === KIND_BACKOFF) {
      this.refreshes.quietUntil(key, Date.now() + (reply[1] as number), true);
      return NOTHING;
    }
    if (kind !== KIND_WAIT) return NOTHING;
    this.refreshes.quietUntil(key, Date.now() + Math.max(1, reply[2] as number), false);
    if (until <= Date.now()) return NOTHING;
    return this.wait(key, family, token, (reply[1] as Buffer).toString(), factory, policy, flight, bytes, { until, late: () => NOTHING }, true).catch(() => NOTHING);
  }

  /**
   * No usable value: lead or wait. `unusable`: bytes found at the key that this call cannot use (unreadable,
   * or past ttl and grace); they count as a miss. Without a stale value to fall back on, hardTimeout bounds the wait.
   */
  private miss(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, unusable: Buffer | undefined): Promise<unknown> {
    const patience: Patience = policy.hardTimeoutMs > 0 ? { until: Date.now() + policy.hardTimeoutMs, late: () => { throw new TimeoutError(key, policy.hardTimeoutMs); } } : UNBOUNDED;
    return within(this.leadOrWait(key, factory, policy, flight, unusable, patience), patience);
  }

  private async leadOrWait(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, unusable: Buffer | undefined, patience: Patience): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      // The first acquire has no lease to follow yet: the error key of the empty token never exists.
      reply = (await this.acquire(key, family, token, '', unusable, false)) as ScriptReply[];
    } catch (error) {
      return this.uncached(key, factory, error);
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) return this.lead(key, family, token, factory, policy, flight, false);
    if (kind === KIND_VALUE) return this.found(key, reply[1] as Buffer, factory);
    return this.wait(key, family, token, (reply[1] as Buffer).toString(), factory, policy, flight, unusable, patience, false);
  }

  /**
   * Runs the function under the lease and commits its result (kept ttl + grace). A refresh's failure ends
   * its lease with the fleet-wide backoff and is reported as 'refresh-failed'; it still rejects, for the
   * caller to answer with its stale value.
   */
  private async lead(key: string, family: KeyFamily, token: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown> | undefined, refresh: boolean): Promise<unknown> {
    this.emit('lead', key);
    if (flight) this.flights.computing(flight);
    // Once the lease is lost (voided by an invalidation, taken over, past maxHold) the result may predate
    // an invalidation: later calls in this process must not join it.
    const lease = new Lease(this.leases, key, family, token, flight ? () => this.flights.detach(flight) : undefined);
    lease.hold();
    const started = performance.now();
    let value: unknown;
    let bytes: Buffer;
    try {
      value = await factory();
      bytes = this.encode(key, value, policy.ttlMs, performance.now() - started);
    } catch (error) {
      // Whatever was thrown goes back to the caller as it is; the waiters get a readable copy.
      lease.stop();
      await lease.fail(encodeFailure(error, this.settings.errorFields), refresh ? policy.backoffMs : 0);
      if (refresh) this.emit('refresh-failed', error, key);
      throw error;
    }
    lease.stop();
    if ((await lease.commit(bytes, policy.ttlMs + policy.graceMs)) === false) this.emit('fence', key);
    return value;
  }

  /**
   * Waits for the holder of the key's lease, until `patience` runs out. A refresh's waiter (`refresh`) has a
   * stale value to serve: the holder's failure, a backoff or its deadline answer it with NOTHING instead.
   */
  private async wait(
    key: string,
    family: KeyFamily,
    token: string,
    holder: string,
    factory: Factory<unknown>,
    policy: Freshness,
    flight: Flight<unknown> | undefined,
    unusable: Buffer | undefined,
    patience: Patience,
    refresh: boolean,
  ): Promise<unknown> {
    this.emit('wait', key);
    const deadline = Date.now() + this.settings.waitTimeoutMs;
    const bell = new Bell();
    const listening = await this.waker.listen(family.channel, bell.ring);
    let stopListening: (() => void) | undefined = listening.stop;
    try {
      for (let attempt = 0; ; attempt++) {
        // The leader's wake-up carries the value it committed: no round trip to read it back.
        const pushed = bell.takeValue(holder);
        if (pushed) {
          const envelope = this.read(key, pushed);
          if (envelope) return envelope.value;
        }
        if (Date.now() >= patience.until) return patience.late();
        let reply: ScriptReply[];
        try {
          reply = (await this.acquire(key, family, token, holder, unusable, refresh)) as ScriptReply[];
        } catch (error) {
          return refresh ? NOTHING : await this.uncached(key, factory, error);
        }
        const kind = (reply[0] as Buffer)[0];
        if (kind === KIND_VALUE) {
          const envelope = this.read(key, reply[1] as Buffer);
          if (envelope) return envelope.value;
          // Re-check at once, asking to lead over the unreadable bytes; a second unusable value is left alone.
          if (unusable) return refresh ? NOTHING : await this.uncached(key, factory, undefined);
          unusable = reply[1] as Buffer;
          continue;
        }
        if (kind === KIND_ERROR) {
          if (refresh) return NOTHING;
          throw decodeFailure(reply[1] as Buffer);
        }
        if (kind === KIND_BACKOFF) return NOTHING;
        if (kind === KIND_LEAD) {
          stopListening();
          stopListening = undefined;
          this.emit('takeover', key);
          return await within(this.lead(key, family, token, factory, policy, flight, refresh), patience);
        }
        holder = (reply[1] as Buffer).toString();
        const leaseLeft = reply[2] as number;
        const left = Math.min(deadline, patience.until) - Date.now();
        if (left <= 0) return Date.now() >= patience.until ? patience.late() : await this.waitedTooLong(key, factory);
        // Re-check right after the holder's lease would expire, so a crashed holder is replaced promptly.
        // While the subscription is trusted the wake-up comes by itself: no polling in between.
        const untilExpiry = leaseLeft > 0 ? leaseLeft + 2 : Infinity;
        await bell.sleep(Math.min(listening.trusted() ? untilExpiry : pollDelay(attempt), left, untilExpiry));
      }
    } finally {
      stopListening?.();
    }
  }

  /** A caller waited `wait.timeout` for another caller's computation. */
  private async waitedTooLong(key: string, factory: Factory<unknown>): Promise<unknown> {
    if (this.settings.onTimeout === 'throw') throw new WaitTimeoutError(key, this.settings.waitTimeoutMs);
    return factory();
  }

  /** `refresh`: the caller has a value to serve meanwhile, so a refresh backoff applies to it. */
  private acquire(key: string, family: KeyFamily, token: string, holder: string, unusable: Buffer | undefined, refresh: boolean): Promise<ScriptReply> {
    const lease = String(this.settings.leaseTtlMs);
    const mode = refresh ? 'r' : 'm';
    return this.store.run(
      this.scripts.acquire,
      [family.value, family.lease, family.failure(holder), family.backoff],
      // Its length and first bytes (the header and timestamps) tell the unusable value from any other.
      unusable ? [token, lease, mode, String(unusable.length), unusable.subarray(0, UNUSABLE_HEAD)] : [token, lease, mode],
      // The caller gave up on this reply and answered without the cache: hand back a lease it got late.
      (late) => {
        if (Array.isArray(late) && (late[0] as Buffer)[0] === KIND_LEAD) new Lease(this.leases, key, family, token).release();
      },
    );
  }

  /** A value found by a script; unreadable bytes are answered by computing without the cache. */
  private found(key: string, bytes: Buffer, factory: Factory<unknown>): Promise<unknown> | unknown {
    const envelope = this.read(key, bytes);
    return envelope ? envelope.value : this.uncached(key, factory, undefined);
  }

  private async uncached(key: string, factory: Factory<unknown>, cause: unknown): Promise<unknown> {
    if (cause !== undefined) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.fault(cause instanceof RedisUnavailableError ? cause : new RedisUnavailableError(`answering '${key}' without the cache: ${reason}`, cause), key);
    }
    return factory();
  }

  private read(key: string, bytes: Buffer) {
    try {
      const envelope = this.format.decode(bytes);
      if (envelope) return envelope;
      this.fault(new RedisUnavailableError(`the value at '${key}' was not written by this cache's format or codec (${this.settings.codec.name}); it is treated as missing`), key);
    } catch (error) {
      this.fault(error, key);
    }
    return undefined;
  }

  private encode(key: string, value: unknown, ttl: number, delta: number): Buffer {
    try {
      return this.format.encode(value, Date.now(), ttl, delta);
    } catch (cause) {
      throw new EncodeError(key, cause);
    }
  }

  /**
   * A write that invalidates what was computed before it. Once it has resolved (or failed: the data may
   * have changed all the same), no later call in this process joins a call already in flight for the key.
   */
  private async invalidation<T>(key: string, what: string, pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      if (error instanceof RedisUnavailableError || error instanceof ClosedError) throw error;
      throw new RedisUnavailableError(`${what} failed: ${(error as Error)?.message ?? error}`, error);
    } finally {
      this.flights.detachKey(key);
      this.forced.detachKey(key);
      this.refreshes.forget(key);
    }
  }

  /**
   * 'error' is only emitted to listeners: an EventEmitter without one would throw and crash the caller.
   * A listener that throws is ignored: faults are reported from timers, where a throw would crash the process.
   */
  private fault(error: unknown, key: string | undefined): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error, key);
    } catch {
      // the listener's own failure; nothing herdless can do with it
    }
  }
}

// Typed listeners without changing EventEmitter's behaviour.
export interface Cache {
  on<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  once<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  off<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  emit<E extends keyof CacheEvents>(event: E, ...args: CacheEvents[E]): boolean;
}

export function createCache(options?: CacheOptions): Cache {
  return new Cache(options);
}

/** Polling backoff for a waiter whose wake-up may have been lost: 50 ms growing to 1 s, jittered by ±20%. */
function pollDelay(attempt: number): number {
  return Math.min(50 * 1.5 ** attempt, 1000) * (0.8 + Math.random() * 0.4);
}
