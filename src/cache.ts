import { EventEmitter } from 'node:events';
import { InvalidationChannel, KEY_MESSAGE } from './bus/invalidations';
import { Waker } from './bus/waker';
import { EnvelopeFormat, EPOCH, type Envelope } from './envelope';
import { checkedAt, ClosedError, failedWrite, InvalidOptionError, located } from './errors';
import type { CacheEvents } from './events';
import { Age, judge, tagged, type Freshness } from './freshness/policy';
import { Refresher } from './freshness/refresher';
import { KeyLayout, checkKey } from './keys';
import type { LeaseContext } from './lease/lease';
import type { LeaseScripts } from './lease/scripts';
import { CallPolicies, onlyTags, setFreshness, settings, type CacheOptions, type CallOptions, type SetOptions, type Settings } from './options';
import { Protocol, type Factory } from './protocol';
import { SingleFlight, type Flight } from './singleflight';
import { openStore } from './store/open';
import type { Store } from './store/store';
import { checkTags } from './tags/check';
import { VersionBook } from './tags/versions';
import { getOrSetChannel, type GetOrSetContext } from './telemetry/channels';
import { Observer } from './telemetry/observer';
import { joinerFactory, joinerRecord, traced, type Joining } from './telemetry/record';
import { closed, opened } from './telemetry/registry';
import type { CacheStats } from './telemetry/stats';
import { MemoryAnswers } from './tier/answers';
import { MemoryTier } from './tier/memory';

export type { CacheEvents } from './events';
export type { Factory } from './protocol';

/**
 * For the decorators only (decorators/target.ts): getOrSet with its tags given apart from the options, so
 * frozen options keep their resolved policy, and herdless' own tags (a cached method's, NUL-prefixed)
 * allowed; and invalidateTags allowing those.
 */
export const TAGGED: unique symbol = Symbol('herdless.getOrSetTagged');
export const INVALIDATE: unique symbol = Symbol('herdless.invalidateTags');


/*
 * One call of getOrSet, in order:
 *   GET value                   one round trip, no script; then the value's age (freshness/policy.ts):
 *     fresh                     -> the value
 *     fresh, close to expiry    -> the value; one background refresh (early refresh, XFetch)
 *     stale, within grace       -> the value (after softTimeout at most); one background refresh (freshness/refresher.ts)
 *     none, or past grace       -> the lease conversation (protocol.ts): lead, or wait for the holder
 *   and first, the value's tag stamp: valid only while each of its tags (and the namespace's epoch) has
 *   the version it was computed under (tags/versions.ts); an invalidated value counts as none
 * forceFresh skips the age check: whatever is stored counts as missing. Any Redis failure answers the
 * call by running the function without the cache.
 *
 * Invariants (each is stated again where it is kept):
 * - after invalidateTags() or clear() resolves, no call that starts later is handed a value computed before
 *   it, in this process; in others, once the invalidation channel delivers it (or their trust in it lapses);
 * - after delete() or set() resolves, or once this process sees its lease lost, no call that starts later
 *   is handed a value computed before it: such calls never join the flight in flight (singleflight.ts),
 *   and the refresh in flight anywhere is fenced (lease/scripts.ts);
 * - one computation of a key at a time across the fleet, whether for a miss, a refresh or forceFresh: each
 *   takes the key's lease (lease/scripts.ts, acquire);
 * - early refresh never serves a value past its ttl; nothing is served past ttl + grace, and Redis drops
 *   the entry by its own clock then (freshness/policy.ts);
 * - a failed refresh backs off fleet-wide: no process starts another before refreshBackoff (freshness/refresher.ts);
 * - a waiter takes a pushed value only from the lease its latest re-check saw, and the latest wake-up
 *   wins (bus/bell.ts);
 * - a lease always ends: committed, failed, released when Redis refuses the commit, released past
 *   lease.maxHold, or expired when Redis cannot be reached at all (lease/lease.ts);
 * - giving up on a computation (softTimeout, hardTimeout) never stops it: it goes on and commits, fenced
 *   (freshness/patience.ts);
 * - a same-process caller waits for another's computation no longer than a caller elsewhere (wait.timeout);
 * - whatever a function throws is handed back to its caller as it is; waiters get a plain Error carrying
 *   only allow-listed primitive fields (lease/failure.ts); nothing scheduled throws outside a promise;
 * - an unreadable stored value counts as a miss inside the protocol: one caller leads and its commit
 *   replaces it (lease/scripts.ts, acquire);
 * - keys and durations are checked where they are passed: no two keys share a Redis entry (keys.ts), and
 *   every duration fits a Node timer or a Redis expiry (duration.ts).
 */
/**
 * A cache over one Redis (a server or a cluster) and one namespace: {@link createCache} makes one.
 * It is an EventEmitter of {@link CacheEvents}; every operation is also published on
 * `node:diagnostics_channel` ({@link CHANNELS}), and {@link Cache.stats} counts them.
 */
export class Cache extends EventEmitter {
  /** The prefix of every key this cache writes (option `namespace`). */
  readonly namespace: string;
  private readonly settings: Settings;
  private readonly keys: KeyLayout;
  private readonly store: Store;
  private readonly scripts: LeaseScripts;
  private readonly flights: SingleFlight<unknown, Joining>;
  /** forceFresh calls: coalesced among themselves, never joined by a read. */
  private readonly forced: SingleFlight<unknown, Joining>;
  private readonly protocol: Protocol;
  private readonly refresher: Refresher;
  private readonly policies: CallPolicies;
  /** The memory tier, when the cache has one (tier/memory.ts). */
  private readonly memory: MemoryTier | undefined;
  /** What the memory tier may answer, when the cache has one (tier/answers.ts). */
  private readonly answers: MemoryAnswers | undefined;
  private readonly channel: InvalidationChannel;
  private readonly tags: VersionBook;
  /** Counters, events and diagnostics channels: where every outcome is reported (telemetry/observer.ts). */
  private readonly observer: Observer;
  private closed = false;

  constructor(options?: CacheOptions) {
    super();
    this.settings = checkedAt('createCache', () => settings(options));
    this.namespace = this.settings.namespace;
    this.policies = new CallPolicies(this.settings.freshness);
    this.keys = new KeyLayout(this.namespace);
    const observer = new Observer(this, this.namespace);
    this.observer = observer;
    const format = new EnvelopeFormat(this.settings.codec, this.namespace);
    const onError = (error: unknown) => observer.fault(error, undefined);
    ({ store: this.store, scripts: this.scripts } = openStore(this.settings, onError));
    const timeoutMs = this.settings.commandTimeoutMs;
    const waker = new Waker(this.store, timeoutMs, onError);
    const channel = new InvalidationChannel(this.store, this.keys.invalidations, onError);
    this.channel = channel;
    this.tags = new VersionBook(this.store, channel, this.keys);
    const decode = (key: string, bytes: Buffer) => this.protocol.read(key, bytes);
    const memory = this.settings.memory && new MemoryTier(this.settings.memory, channel, decode);
    this.memory = memory;
    this.answers = memory && new MemoryAnswers(memory, channel, this.tags, observer, () => this.protocol);
    this.tags.onCleared = () => memory?.clear();
    this.store.onSubscriptionsLost = (resubscribe) => {
      waker.lost(resubscribe);
      channel.lost(resubscribe);
      channel.recheck();
    };
    const late = (key: string, joining: Joining) => this.protocol.waitedTooLong(key, joinerFactory(joining), joinerRecord(joining));
    const settled = (flight: Flight<unknown>) => observer.settled(flight);
    this.flights = new SingleFlight(this.settings.waitTimeoutMs, late, this.tags, settled);
    this.forced = new SingleFlight(this.settings.waitTimeoutMs, late, this.tags, settled);
    const cache = this;
    const leases: LeaseContext = {
      store: this.store,
      scripts: this.scripts,
      leaseTtlMs: this.settings.leaseTtlMs,
      maxHoldMs: this.settings.maxHoldMs,
      invalidations: this.keys.invalidations,
      get closed() {
        return cache.closed;
      },
      fault: (error, key) => observer.fault(error, key),
      writing: (key) => memory?.invalidated(key),
    };
    this.protocol = new Protocol(this.settings, this.keys, format, this.store, this.scripts, waker, this.flights, leases, observer, this.tags);
    this.refresher = new Refresher(this.protocol, this.keys, observer, this.settings.maxHoldMs);
    opened(this);
  }

  /**
   * The cached value of `key`, or the result of `factory`, computed once across every process sharing
   * this Redis and namespace. Concurrent calls for a key in this process share one call, options included.
   */
  getOrSet<T>(key: string, factory: Factory<T>, options?: CallOptions): Promise<Awaited<T>> {
    try {
      // The tags travel on the flight, not in the policy: a hit never needs them, so a call passing only
      // its tags keeps the cache's own policy and a tagged hit allocates nothing for them.
      // null has no tags to read: it goes to the options check, which refuses it as it refuses any
      // non-object (InvalidOptionError naming 'options'), instead of a TypeError from reading null.tags.
      if (options === undefined || options === null || options.tags === undefined) return this.call(key, factory, this.policies.of(options), undefined);
      const tags = checkTags(options.tags);
      return this.call(key, factory, onlyTags(options) ? this.settings.freshness : this.policies.of(options), tags);
    } catch (error) {
      return Promise.reject(located(error, 'getOrSet'));
    }
  }

  /**
   * getOrSet, with `tags` (checked here, herdless' own allowed) in place of the options' own.
   * @internal
   */
  [TAGGED]<T>(key: string, factory: Factory<T>, options: CallOptions | undefined, own: unknown): Promise<Awaited<T>> {
    try {
      return this.call(key, factory, this.policies.of(options), own === undefined ? undefined : checkTags(own, 'tags', true));
    } catch (error) {
      return Promise.reject(located(error, 'getOrSet'));
    }
  }

  /** One call of getOrSet, its options resolved; throws what the caller rejects with. */
  private call<T>(key: string, factory: Factory<T>, policy: Freshness, tags: readonly string[] | undefined): Promise<Awaited<T>> {
    // Traced only while someone listens on herdless:getOrSet; otherwise nothing is built for it.
    if (getOrSetChannel.hasSubscribers) return this.observer.traced(key, (trace) => this.answer(key, factory, policy, tags, trace)) as Promise<Awaited<T>>;
    return this.answer(key, factory, policy, tags, undefined) as Promise<Awaited<T>>;
  }

  private answer(key: string, factory: Factory<unknown>, policy: Freshness, tags: readonly string[] | undefined, trace: GetOrSetContext | undefined): Promise<unknown> {
    if (this.closed) throw new ClosedError();
    if (typeof factory !== 'function') throw new InvalidOptionError('factory', factory, 'a function that computes the value');
    // A fresh value in the memory tier answers at once, before any flight: only a miss there costs more.
    // (Its key was checked when it was filled.)
    const remembered = policy.l1 && !policy.forceFresh && this.answers !== undefined ? this.answers.fresh(key, policy, trace) : undefined;
    if (remembered !== undefined) return remembered;
    checkKey(key);
    // A call that joins one in flight keeps this outcome; one that starts a flight reports its own.
    if (trace !== undefined) trace.outcome = 'joined';
    const joining: Joining = trace === undefined ? factory : { factory, trace };
    if (policy.forceFresh) return this.forced.do(key, (flight) => this.recompute(key, factory, tagged(policy, flight), traced(flight, trace)), joining, tags);
    return this.flights.do(key, (flight) => this.load(key, factory, policy, traced(flight, trace)), joining, tags);
  }

  /** The cached value while it is fresh, or undefined (none, past its ttl, or Redis cannot be reached). */
  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.observer.operation('get', key, undefined, () => this.read<T>(key));
  }

  private async read<T>(key: string): Promise<T | undefined> {
    if (this.closed) throw new ClosedError();
    checkedAt('get', () => checkKey(key));
    let bytes: Buffer | null;
    try {
      bytes = await this.store.get(this.keys.value(key));
    } catch (error) {
      this.observer.fault(error, key);
      return undefined;
    }
    const envelope = bytes === null ? undefined : this.protocol.read(key, bytes);
    if (envelope === undefined || envelope.expiresAt <= Date.now()) return undefined;
    try {
      return (await this.tags.valid(envelope.stamp)) ? (envelope.value as T) : undefined;
    } catch (error) {
      this.observer.fault(error, key);
      return undefined;
    }
  }

  /** Writes a value directly. Voids a computation in flight for the key, so its older result cannot replace this one. */
  set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    return this.observer.operation('set', key, undefined, () => this.write(key, value, options));
  }

  private async write(key: string, value: unknown, options: SetOptions | undefined): Promise<void> {
    if (this.closed) throw new ClosedError();
    const policy = checkedAt('set', () => {
      checkKey(key);
      return setFreshness(options, this.settings.freshness);
    });
    const family = this.keys.family(key);
    const keep = String(policy.ttlMs + policy.graceMs);
    const stamp = await failedWrite('set', Promise.resolve(this.tags.capture(policy.tags)));
    const bytes = this.protocol.encode(key, value, policy.ttlMs, 0, stamp);
    await this.invalidation(key, 'set', this.store.run(this.scripts.overwrite, [family.value, family.lease, family.channel, family.backoff], [bytes, keep, this.keys.invalidations, KEY_MESSAGE + key]));
  }

  /**
   * Removes the value (a stale one too) and voids a computation in flight (it may have read data older
   * than this delete); its waiters wake and one recomputes. Resolves true if a value was removed.
   */
  delete(key: string): Promise<boolean> {
    return this.observer.operation('delete', key, undefined, () => this.remove(key));
  }

  private async remove(key: string): Promise<boolean> {
    if (this.closed) throw new ClosedError();
    checkedAt('delete', () => checkKey(key));
    const family = this.keys.family(key);
    return (await this.invalidation(key, 'delete', this.store.run(this.scripts.invalidate, [family.value, family.lease, family.channel, family.backoff], [this.keys.invalidations, KEY_MESSAGE + key]))) === 1;
  }

  /**
   * Invalidates every entry carrying one of these tags, in every process: one write and one message per
   * tag, however many entries carry it. An entry is judged when it is next read, and expires by its ttl.
   * A computation in flight for such an entry is voided: its result is never served.
   */
  invalidateTags(tags: readonly string[]): Promise<void> {
    return this[INVALIDATE](tags, false);
  }

  /**
   * invalidateTags; `reserved`: herdless' own tags are allowed.
   * @internal
   */
  [INVALIDATE](tags: readonly string[], reserved: boolean): Promise<void> {
    return this.observer.operation('invalidateTags', undefined, tags, async () => {
      if (this.closed) throw new ClosedError();
      const checked = checkedAt('invalidateTags', () => checkTags(tags, 'tags', reserved));
      // Each tag once: two new versions of one tag, sent together, could land in either order.
      await failedWrite('invalidateTags', this.tags.invalidate([...new Set(checked)]));
    });
  }

  /**
   * Invalidates every entry of this cache's namespace, in every process, in one write: the namespace's
   * epoch, which every entry carries, gets a new version. Computations in flight are voided too.
   */
  clear(): Promise<void> {
    return this.observer.operation('clear', undefined, undefined, async () => {
      if (this.closed) throw new ClosedError();
      await failedWrite('clear', this.tags.invalidate([EPOCH]));
    });
  }

  /** A snapshot of this cache's counters in this process, for logs and tests (telemetry/stats.ts). */
  stats(): CacheStats {
    const joiners = { joined: this.flights.joined + this.forced.joined, late: this.flights.late + this.forced.late };
    return this.observer.counters.snapshot(this.namespace, joiners, this.memory?.usage());
  }

  /** Closes the connections this cache opened; a client you passed in stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closed(this);
    this.channel.close();
    this.memory?.close();
    await this.store.close();
  }

  // The hit path past the memory tier: one GET, the decode, the stamp and the age check. Written without
  // async/await to keep it to the promises it needs.
  private load(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>): Promise<unknown> {
    const memory = policy.l1 ? this.memory : undefined;
    const ticket = memory === undefined ? 0 : memory.ticket();
    return this.store.get(this.keys.value(key)).then(
      (bytes) => {
        const envelope = bytes === null ? undefined : this.protocol.read(key, bytes);
        if (envelope === undefined) return this.missed(key, factory, policy, flight, bytes);
        if (this.tags.judge(envelope.stamp)) return this.found(key, factory, policy, flight, bytes!, envelope, memory, ticket);
        // Its tags' versions are not known here, or differ from what this process knows: Redis tells.
        return this.tags.confirm(envelope.stamp).then(
          (valid) => (valid ? this.found(key, factory, policy, flight, bytes!, envelope, memory, ticket) : this.missed(key, factory, policy, flight, bytes)),
          (error) => this.unreached(key, factory, error, flight),
        );
      },
      (error) => (memory === undefined ? this.unreached(key, factory, error, flight) : this.answers!.unreachable(key, factory, policy, error, flight)),
    );
  }

  /** A valid value read from Redis, by its age. */
  private found(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, bytes: Buffer, envelope: Envelope, memory: MemoryTier | undefined, ticket: number): unknown {
    const age = judge(envelope, Date.now(), policy);
    if (age === Age.Fresh) {
      this.observer.hit(key, flight);
      return memory === undefined ? envelope.value : memory.fill(key, bytes, envelope, ticket);
    }
    // Only a fresh value is kept in memory; anything older is served as Redis holds it, and refreshed.
    const value = memory === undefined ? envelope.value : memory.settle(envelope.value);
    if (age === Age.Early) {
      this.observer.hit(key, flight);
      this.refresher.refreshLater(key, factory, tagged(policy, flight), bytes);
      return value;
    }
    if (age === Age.Stale) return this.refresher.serveStale(key, factory, tagged(policy, flight), flight, bytes, value, flight);
    return this.missed(key, factory, policy, flight, bytes);
  }

  /** No usable value (none, unreadable, invalidated, past grace): `bytes`, if any, count as a miss. */
  private missed(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, bytes: Buffer | null): Promise<unknown> {
    return this.observer.miss(key, flight, () => this.protocol.miss(key, factory, tagged(policy, flight), flight, bytes ?? undefined, flight));
  }


  /** Redis failed before the lease conversation: the function runs without the cache, traced as a miss would be. */
  private unreached(key: string, factory: Factory<unknown>, error: unknown, flight: Flight<unknown>): Promise<unknown> {
    return this.observer.missing(key, flight, () => this.protocol.uncached(key, factory, error, flight));
  }

  /** forceFresh: whatever is stored now is not good enough; compute, or wait for a computation already running. */
  private recompute(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>): Promise<unknown> {
    return this.store.get(this.keys.value(key)).then(
      (bytes) => this.observer.miss(key, flight, () => this.protocol.miss(key, factory, policy, flight, bytes ?? undefined, flight)),
      (error) => this.unreached(key, factory, error, flight),
    );
  }

  /**
   * A write that invalidates what was computed before it. Once it has resolved (or failed: the data may
   * have changed all the same), no later call in this process joins a call already in flight for the key.
   */
  private async invalidation<T>(key: string, what: string, pending: Promise<T>): Promise<T> {
    try {
      return await failedWrite(what, pending);
    } finally {
      this.memory?.invalidated(key);
      this.flights.detachKey(key);
      this.forced.detachKey(key);
      this.refresher.forget(key);
    }
  }
}

// Typed listeners without changing EventEmitter's behaviour.
export interface Cache {
  /** Adds a listener of one of the {@link CacheEvents}: `cache.on('stale', (key) => ...)`. */
  on<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  /** Adds a listener called at the next such event only. */
  once<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  /** Removes a listener added with `on` or `once`. */
  off<E extends keyof CacheEvents>(event: E, listener: (...args: CacheEvents[E]) => void): this;
  /** Emits one of the {@link CacheEvents} (herdless does; an application has no reason to). */
  emit<E extends keyof CacheEvents>(event: E, ...args: CacheEvents[E]): boolean;
}

/**
 * Makes a cache. Without `redis` it connects to `redis://localhost:6379`; options are checked here, and a
 * bad one throws an {@link InvalidOptionError} naming it.
 *
 * @example
 * ```ts
 * const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: 'myapp', ttl: '5m', grace: '1h' });
 * const price = await cache.getOrSet(`price:${sku}`, () => db.price(sku), { tags: [`sku:${sku}`] });
 * await cache.invalidateTags([`sku:${sku}`]);
 * ```
 */
export function createCache(options?: CacheOptions): Cache {
  return new Cache(options);
}

