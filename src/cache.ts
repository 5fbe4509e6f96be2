import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { RedisClusterOptions } from 'redis';
import { Bell } from './bus/bell';
import { Waker } from './bus/waker';
import { EnvelopeFormat } from './envelope';
import { checkedAt, ClosedError, EncodeError, InvalidOptionError, located, RedisUnavailableError, WaitTimeoutError } from './errors';
import { KeyLayout, checkKey, type KeyFamily } from './keys';
import { decodeFailure, encodeFailure } from './lease/failure';
import { Lease, type LeaseContext } from './lease/lease';
import { leaseScripts, type LeaseScripts } from './lease/scripts';
import { callTtl, settings, type CacheOptions, type CallOptions, type Settings } from './options';
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
  /** A computed value was not written because this call no longer held the lease. */
  fence: [key: string];
  /** Something went wrong with Redis or a stored value; the call was answered anyway. */
  error: [error: unknown, key: string | undefined];
}

export type Factory<T> = () => T | PromiseLike<T>;

const KIND_VALUE = 0x76; // 'v'
const KIND_ERROR = 0x65; // 'e'
const KIND_LEAD = 0x6c; // 'l'

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
   * this Redis and namespace. Concurrent calls for a key in this process share one call.
   */
  getOrSet<T>(key: string, factory: Factory<T>, options?: CallOptions): Promise<Awaited<T>> {
    try {
      if (this.closed) throw new ClosedError();
      checkKey(key);
      if (typeof factory !== 'function') throw new InvalidOptionError('factory', factory, 'a function that computes the value');
      const ttl = callTtl(options, this.settings.ttlMs);
      return this.flights.do(key, (flight) => this.load(key, factory, ttl, flight), factory) as Promise<Awaited<T>>;
    } catch (error) {
      return Promise.reject(located(error, 'getOrSet'));
    }
  }

  /** The cached value, or undefined when there is none (or Redis cannot be reached). */
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
    return bytes === null ? undefined : (this.read(key, bytes)?.value as T | undefined);
  }

  /** Writes a value directly. Voids a computation in flight for the key, so its older result cannot replace this one. */
  async set(key: string, value: unknown, options?: CallOptions): Promise<void> {
    if (this.closed) throw new ClosedError();
    const ttl = checkedAt('set', () => {
      checkKey(key);
      return callTtl(options, this.settings.ttlMs);
    });
    const bytes = this.encode(key, value, ttl, 0);
    const family = this.keys.family(key);
    await this.invalidation(key, 'set', this.store.run(this.scripts.overwrite, [family.value, family.lease, family.channel], [bytes, String(ttl)]));
  }

  /**
   * Removes the value and voids a computation in flight (it may have read data older than this delete);
   * its waiters wake and one recomputes. Resolves true if a value was removed.
   */
  async delete(key: string): Promise<boolean> {
    if (this.closed) throw new ClosedError();
    checkedAt('delete', () => checkKey(key));
    const family = this.keys.family(key);
    return (await this.invalidation(key, 'delete', this.store.run(this.scripts.invalidate, [family.value, family.lease, family.channel], []))) === 1;
  }

  /** Closes the connections this cache opened; a client you passed in stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }

  // The hit path: one GET, then the decode. Written without async/await to keep it to the promises it needs.
  private load(key: string, factory: Factory<unknown>, ttl: number, flight: Flight<unknown>): Promise<unknown> {
    return this.store.get(this.keys.value(key)).then(
      (bytes) => {
        if (bytes !== null) {
          const envelope = this.read(key, bytes);
          if (envelope) {
            this.emit('hit', key);
            return envelope.value;
          }
        }
        this.emit('miss', key);
        return this.miss(key, factory, ttl, flight, bytes ?? undefined);
      },
      (error) => this.uncached(key, factory, error),
    );
  }

  /** `unreadable`: bytes found at the key that this cache could not read; they count as a miss. */
  private async miss(key: string, factory: Factory<unknown>, ttl: number, flight: Flight<unknown>, unreadable: Buffer | undefined): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      // The first acquire has no lease to follow yet: the error key of the empty token never exists.
      reply = (await this.acquire(key, family, token, '', unreadable)) as ScriptReply[];
    } catch (error) {
      return this.uncached(key, factory, error);
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) return this.lead(key, family, token, factory, ttl, flight);
    if (kind === KIND_VALUE) return this.found(key, reply[1] as Buffer, factory);
    return this.wait(key, family, token, (reply[1] as Buffer).toString(), factory, ttl, flight);
  }

  private async lead(key: string, family: KeyFamily, token: string, factory: Factory<unknown>, ttl: number, flight: Flight<unknown>): Promise<unknown> {
    this.emit('lead', key);
    this.flights.computing(flight);
    // Once the lease is lost (voided by an invalidation, taken over, past maxHold) the result may predate
    // an invalidation: later calls in this process must not join it.
    const lease = new Lease(this.leases, key, family, token, () => this.flights.detach(flight));
    lease.hold();
    const started = performance.now();
    let value: unknown;
    let bytes: Buffer;
    try {
      value = await factory();
      bytes = this.encode(key, value, ttl, performance.now() - started);
    } catch (error) {
      // Whatever was thrown goes back to the caller as it is; the waiters get a readable copy.
      lease.stop();
      await lease.fail(encodeFailure(error, this.settings.errorFields));
      throw error;
    }
    lease.stop();
    if ((await lease.commit(bytes, ttl)) === false) this.emit('fence', key);
    return value;
  }

  private async wait(key: string, family: KeyFamily, token: string, holder: string, factory: Factory<unknown>, ttl: number, flight: Flight<unknown>): Promise<unknown> {
    this.emit('wait', key);
    const deadline = Date.now() + this.settings.waitTimeoutMs;
    const bell = new Bell();
    const listening = await this.waker.listen(family.channel, bell.ring);
    let stopListening: (() => void) | undefined = listening.stop;
    let unreadable: Buffer | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        // The leader's wake-up carries the value it committed: no round trip to read it back.
        const pushed = bell.takeValue(holder);
        if (pushed) {
          const envelope = this.read(key, pushed);
          if (envelope) return envelope.value;
        }
        let reply: ScriptReply[];
        try {
          reply = (await this.acquire(key, family, token, holder, unreadable)) as ScriptReply[];
        } catch (error) {
          return await this.uncached(key, factory, error);
        }
        const kind = (reply[0] as Buffer)[0];
        if (kind === KIND_VALUE) {
          const envelope = this.read(key, reply[1] as Buffer);
          if (envelope) return envelope.value;
          // Re-check at once, asking to lead over the unreadable bytes; a second unreadable value is left alone.
          if (unreadable) return await this.uncached(key, factory, undefined);
          unreadable = reply[1] as Buffer;
          continue;
        }
        if (kind === KIND_ERROR) throw decodeFailure(reply[1] as Buffer);
        if (kind === KIND_LEAD) {
          stopListening();
          stopListening = undefined;
          if (!unreadable) this.emit('takeover', key);
          return await this.lead(key, family, token, factory, ttl, flight);
        }
        holder = (reply[1] as Buffer).toString();
        const leaseLeft = reply[2] as number;
        const left = deadline - Date.now();
        if (left <= 0) return await this.waitedTooLong(key, factory);
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

  private acquire(key: string, family: KeyFamily, token: string, holder: string, unreadable: Buffer | undefined): Promise<ScriptReply> {
    const lease = String(this.settings.leaseTtlMs);
    return this.store.run(
      this.scripts.acquire,
      [family.value, family.lease, family.failure(holder)],
      unreadable ? [token, lease, unreadable] : [token, lease],
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
