import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Waker } from './bus/waker';
import { EnvelopeFormat } from './envelope';
import { ClosedError, EncodeError, InvalidOptionError, RedisUnavailableError, WaitTimeoutError } from './errors';
import { KeyLayout, checkKey, type KeyFamily } from './keys';
import { decodeFailure, encodeFailure } from './lease/failure';
import { leaseScripts, type LeaseScripts } from './lease/scripts';
import { callTtl, settings, type CacheOptions, type CallOptions, type Settings } from './options';
import { SingleFlight } from './singleflight';
import { ClusterStore, isCluster } from './store/cluster';
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
 *   lead:  run the function, renewing the lease every leaseTtl/3; commit (fenced) or fail (shares the error)
 *   wait:  subscribe to the key's channel, then re-check with acquire until a value, an error or the lease
 *          comes free (takeover); woken by the channel, with jittered polling in case a message is lost.
 * Any Redis failure answers the call by running the function without the cache.
 */
export class Cache extends EventEmitter {
  readonly namespace: string;
  private readonly settings: Settings;
  private readonly keys: KeyLayout;
  private readonly format: EnvelopeFormat;
  private readonly store: Store;
  private readonly scripts: LeaseScripts;
  private readonly waker: Waker;
  private readonly flights = new SingleFlight<unknown>();
  private closed = false;

  constructor(options?: CacheOptions) {
    super();
    this.settings = settings(options);
    this.namespace = this.settings.namespace;
    this.keys = new KeyLayout(this.namespace);
    this.format = new EnvelopeFormat(this.settings.codec);
    const onError = (error: unknown) => this.fault(error, undefined);
    const redis = this.settings.redis;
    const timeoutMs = this.settings.commandTimeoutMs;
    if (isCluster(redis) || 'cluster' in redis) {
      this.scripts = leaseScripts('SPUBLISH');
      const options = { timeoutMs, scripts: Object.values(this.scripts), onError };
      const store = new ClusterStore(isCluster(redis) ? redis : redis.cluster, options);
      this.waker = new Waker(store, timeoutMs, onError);
      store.onSubscriptionsLost = () => this.waker.forgetAll();
      this.store = store;
    } else {
      this.scripts = leaseScripts('PUBLISH');
      this.store = new StandaloneStore(redis, { timeoutMs, scripts: Object.values(this.scripts), onError });
      this.waker = new Waker(this.store, timeoutMs, onError);
    }
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
      return this.flights.do(key, () => this.load(key, factory, ttl)) as Promise<Awaited<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The cached value, or undefined when there is none (or Redis cannot be reached). */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new ClosedError();
    checkKey(key);
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
    checkKey(key);
    const ttl = callTtl(options, this.settings.ttlMs);
    const bytes = this.encode(key, value, ttl, 0);
    const family = this.keys.family(key);
    await this.write('set', this.store.run(this.scripts.overwrite, [family.value, family.lease, family.channel], [bytes, String(ttl)]));
  }

  /**
   * Removes the value and voids a computation in flight (it may have read data older than this delete);
   * its waiters wake and one recomputes. Resolves true if a value was removed.
   */
  async delete(key: string): Promise<boolean> {
    if (this.closed) throw new ClosedError();
    checkKey(key);
    const family = this.keys.family(key);
    return (await this.write('delete', this.store.run(this.scripts.invalidate, [family.value, family.lease, family.channel], []))) === 1;
  }

  /** Closes the connections this cache opened; a client you passed in stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }

  // The hit path: one GET, then the decode. Written without async/await to keep it to the promises it needs.
  private load(key: string, factory: Factory<unknown>, ttl: number): Promise<unknown> {
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
        return this.miss(key, factory, ttl);
      },
      (error) => this.uncached(key, factory, error),
    );
  }

  private async miss(key: string, factory: Factory<unknown>, ttl: number): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      // The first acquire has no lease to follow yet: the error key of the empty token never exists.
      reply = (await this.acquire(family, token, '')) as ScriptReply[];
    } catch (error) {
      return this.uncached(key, factory, error);
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) return this.lead(key, family, token, factory, ttl);
    if (kind === KIND_VALUE) return this.found(key, reply[1] as Buffer, factory);
    return this.wait(key, family, token, (reply[1] as Buffer).toString(), factory, ttl);
  }

  private async lead(key: string, family: KeyFamily, token: string, factory: Factory<unknown>, ttl: number): Promise<unknown> {
    this.emit('lead', key);
    const stopRenewing = this.renewWhileRunning(key, family, token);
    const started = performance.now();
    let value: unknown;
    let bytes: Buffer;
    try {
      value = await factory();
      bytes = this.encode(key, value, ttl, performance.now() - started);
    } catch (error) {
      stopRenewing();
      await this.share(key, family, token, error);
      throw error;
    }
    stopRenewing();
    const commit = () => this.store.run(this.scripts.commit, [family.value, family.lease, family.channel], [token, bytes, String(ttl)]);
    try {
      if ((await commit()) === 0) this.emit('fence', key);
    } catch (error) {
      this.fault(error, key);
      this.retryInBackground(commit);
    }
    return value;
  }

  private async wait(key: string, family: KeyFamily, token: string, holder: string, factory: Factory<unknown>, ttl: number): Promise<unknown> {
    this.emit('wait', key);
    const deadline = Date.now() + this.settings.waitTimeoutMs;
    const bell = new Bell();
    let stopListening: (() => void) | undefined = await this.waker.listen(family.channel, bell.ring);
    try {
      for (let attempt = 0; ; attempt++) {
        // The leader's wake-up carries the value it committed: no round trip to read it back.
        const pushed = bell.takeValue();
        if (pushed) {
          const envelope = this.read(key, pushed);
          if (envelope) return envelope.value;
        }
        let reply: ScriptReply[];
        try {
          reply = (await this.acquire(family, token, holder)) as ScriptReply[];
        } catch (error) {
          return await this.uncached(key, factory, error);
        }
        const kind = (reply[0] as Buffer)[0];
        if (kind === KIND_VALUE) return await this.found(key, reply[1] as Buffer, factory);
        if (kind === KIND_ERROR) throw decodeFailure(reply[1] as Buffer);
        if (kind === KIND_LEAD) {
          stopListening();
          stopListening = undefined;
          this.emit('takeover', key);
          return await this.lead(key, family, token, factory, ttl);
        }
        holder = (reply[1] as Buffer).toString();
        const leaseLeft = reply[2] as number;
        const left = deadline - Date.now();
        if (left <= 0) {
          if (this.settings.onTimeout === 'throw') throw new WaitTimeoutError(key, this.settings.waitTimeoutMs);
          return await factory();
        }
        // Re-check right after the holder's lease would expire, so a crashed holder is replaced promptly.
        await bell.sleep(Math.min(pollDelay(attempt), left, leaseLeft > 0 ? leaseLeft + 2 : Infinity));
      }
    } finally {
      stopListening?.();
    }
  }

  private acquire(family: KeyFamily, token: string, holder: string): Promise<ScriptReply> {
    return this.store.run(
      this.scripts.acquire,
      [family.value, family.lease, family.failure(holder)],
      [token, String(this.settings.leaseTtlMs)],
      // The caller gave up on this reply and answered without the cache: hand back a lease it got late.
      (late) => {
        if (Array.isArray(late) && (late[0] as Buffer)[0] === KIND_LEAD) this.giveBack(family, token);
      },
    );
  }

  private renewWhileRunning(key: string, family: KeyFamily, token: string): () => void {
    const leaseTtl = this.settings.leaseTtlMs;
    const timer = setInterval(() => {
      this.store.run(this.scripts.renew, [family.lease], [token, String(leaseTtl)]).then(
        (renewed) => {
          // Lost (expired, taken over or voided): stop renewing; the commit will be fenced.
          if (renewed === 0) clearInterval(timer);
        },
        (error) => this.fault(error, key),
      );
    }, Math.max(1, Math.floor(leaseTtl / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Ends the lease and leaves the error for this lease's waiters in every process. */
  private async share(key: string, family: KeyFamily, token: string, error: unknown): Promise<void> {
    const fail = () => this.store.run(this.scripts.fail, [family.lease, family.failure(token), family.channel], [token, encodeFailure(error), String(this.settings.leaseTtlMs)]);
    try {
      await fail();
    } catch (failure) {
      this.fault(failure, key);
      this.retryInBackground(fail);
    }
  }

  private giveBack(family: KeyFamily, token: string): void {
    const release = () => this.store.run(this.scripts.release, [family.lease, family.channel], [token]);
    release().catch((error) => {
      this.fault(error, undefined);
      this.retryInBackground(release);
    });
  }

  /**
   * Ending a lease must not depend on Redis answering right then: a lease left behind (its commit lost in
   * a failover or a timeout) would hold every waiter until it expires. The step is fenced by the token,
   * so repeating it is safe; retries stop when one goes through or the lease would have expired anyway.
   */
  private retryInBackground(step: () => Promise<unknown>): void {
    const giveUpAt = Date.now() + this.settings.leaseTtlMs;
    let delay = 100;
    const attempt = () => {
      if (this.closed || Date.now() + delay > giveUpAt) return;
      setTimeout(() => {
        step().catch(() => {
          delay = Math.min(delay * 2, 1_000);
          attempt();
        });
      }, delay).unref();
    };
    attempt();
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

  private async write<T>(what: string, pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      if (error instanceof RedisUnavailableError || error instanceof ClosedError) throw error;
      throw new RedisUnavailableError(`${what} failed: ${(error as Error)?.message ?? error}`, error);
    }
  }

  /** 'error' is only emitted to listeners: an EventEmitter without one would throw and crash the caller. */
  private fault(error: unknown, key: string | undefined): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, key);
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

/** Remembers a wake-up that arrives while the waiter is busy re-checking, so it is never slept through. */
class Bell {
  private rung = false;
  private wake: (() => void) | undefined;
  private value: Buffer | undefined;

  /** A wake-up; one that ends in a value ('v' + envelope, from commit or set) carries it. */
  readonly ring = (message?: Buffer): void => {
    if (message && message[0] === 0x76) this.value = message.subarray(1);
    this.rung = true;
    this.wake?.();
  };

  takeValue(): Buffer | undefined {
    const value = this.value;
    this.value = undefined;
    return value;
  }

  sleep(ms: number): Promise<void> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.rung = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
