import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Bell } from './bus/bell';
import type { Waker } from './bus/waker';
import { IDENTITY_BYTES, OTHER_KEY, type Envelope, type EnvelopeFormat, type Stamp } from './envelope';
import { EncodeError, MisalignedReplyError, RedisUnavailableError, refusedBy, TimeoutError, WaitTimeoutError } from './errors';
import { within, UNBOUNDED, type Patience } from './freshness/patience';
import type { Freshness } from './freshness/policy';
import type { KeyFamily, KeyLayout } from './keys';
import { decodeFailure, encodeFailure } from './lease/failure';
import { Lease, type LeaseContext } from './lease/lease';
import type { LeaseScripts } from './lease/scripts';
import type { Settings } from './options';
import type { Flight, SingleFlight } from './singleflight';
import type { ScriptReply, Store } from './store/store';
import type { VersionBook } from './tags/versions';
import { call, type Observer } from './telemetry/observer';
import type { CallRecord } from './telemetry/record';

/** The function whose result is cached: called with no arguments, it returns the value or a promise of it. */
export type Factory<T> = () => T | PromiseLike<T>;

// The first byte of an acquire reply (lease/scripts.ts).
export const KIND_VALUE = 0x76; // 'v'
export const KIND_ERROR = 0x65; // 'e'
export const KIND_LEAD = 0x6c; // 'l'
export const KIND_WAIT = 0x77; // 'w'
export const KIND_BACKOFF = 0x62; // 'b'

/** A refresh that produced no value: its caller serves what it has. */
export const NOTHING: unique symbol = Symbol('nothing');

/**
 * The lease conversation of a call that found no usable value, top to bottom:
 *   acquire(value, lease)          value | you lead | someone leads
 *   lead:  run the function under a Lease (renewed, capped at maxHold); commit (fenced) or fail (shares the error)
 *   wait:  subscribe to the key's channel, then re-check with acquire until a value, an error or the lease
 *          comes free (takeover); woken by the channel, re-checking when the holder's lease would expire,
 *          and polling (jittered) only once the subscription may have lost a message (bus/waker.ts).
 * Any Redis failure answers the call by running the function without the cache. A caller's patience
 * (hardTimeout, softTimeout) bounds how long it waits, never how long the computation runs.
 */
export class Protocol {
  constructor(
    private readonly settings: Settings,
    private readonly keys: KeyLayout,
    private readonly format: EnvelopeFormat,
    private readonly store: Store,
    private readonly scripts: LeaseScripts,
    private readonly waker: Waker,
    private readonly flights: SingleFlight<unknown, Factory<unknown>>,
    private readonly leases: LeaseContext,
    private readonly observer: Observer,
    private readonly tags: VersionBook,
  ) {}

  /**
   * No usable value: lead or wait. `unusable`: bytes found at the key that this call cannot use (unreadable,
   * or past ttl and grace); they count as a miss. Without a stale value to fall back on, hardTimeout bounds the wait.
   * `record`: what the call notes of itself (telemetry/record.ts): its flight.
   */
  miss(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, unusable: Buffer | undefined, record: CallRecord): Promise<unknown> {
    const patience: Patience =
      policy.hardTimeoutMs > 0
        ? {
            until: Date.now() + policy.hardTimeoutMs,
            late: () => {
              this.observer.timeout(record);
              throw new TimeoutError(key, policy.hardTimeoutMs);
            },
          }
        : UNBOUNDED;
    return within(this.leadOrWait(key, factory, policy, flight, unusable, patience, record, unusable ? 1 : 0), patience);
  }

  /** `met`: how many unusable values this call has met so far (LEAD_OVER). */
  async leadOrWait(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, unusable: Buffer | undefined, patience: Patience, record: CallRecord, met: number): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      // The first acquire has no lease to follow yet: the acquire script does not read the error key of the
      // empty token (bytes left there by anything else would answer 'e', and every call of the key reject).
      reply = (await this.acquire(key, family, token, '', unusable, false)) as ScriptReply[];
    } catch (error) {
      return this.uncached(key, factory, error, record);
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) return this.lead(key, family, token, factory, policy, flight, false, record);
    if (kind === KIND_VALUE) {
      let envelope: Envelope | undefined;
      try {
        envelope = await this.usable(key, reply[1] as Buffer);
      } catch (error) {
        return this.uncached(key, factory, error, record);
      }
      if (envelope) {
        this.observer.found(record);
        return envelope.value;
      }
      // Another value, which this call cannot use either (unreadable, or invalidated by a tag): ask to lead over it.
      if (met >= LEAD_OVER) return this.uncached(key, factory, undefined, record);
      return this.leadOrWait(key, factory, policy, flight, reply[1] as Buffer, patience, record, met + 1);
    }
    return this.wait(key, family, token, (reply[1] as Buffer).toString(), factory, policy, flight, unusable, patience, false, record);
  }

  /**
   * Runs the function under the lease and commits its result (kept ttl + grace). A refresh's failure ends
   * its lease with the fleet-wide backoff and is reported as 'refresh-failed'; it still rejects, for the
   * caller to answer with its stale value.
   */
  async lead(key: string, family: KeyFamily, token: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown> | undefined, refresh: boolean, record: CallRecord): Promise<unknown> {
    this.observer.lead(key, record, refresh);
    if (flight) this.flights.computing(flight);
    // Once the lease is lost (voided by an invalidation, taken over, past maxHold) the result may predate
    // an invalidation: later calls in this process must not join it.
    const lease = new Lease(this.leases, key, family, token, flight ? () => this.flights.detach(flight) : undefined);
    lease.hold();
    // The versions of its tags are taken before the function runs: an invalidation that lands while it
    // runs makes its result invalid, and voids the lease at once when this process hears of it.
    let stamp: Stamp;
    try {
      stamp = await this.tags.capture(policy.tags);
    } catch (error) {
      lease.release();
      return this.uncached(key, factory, error, record);
    }
    const unwatch = this.tags.watch(stamp, () => lease.void());
    const started = performance.now();
    let value: unknown;
    let bytes: Buffer;
    try {
      // A subscriber may run the function inside its own context (telemetry/channels.ts, runFactory).
      value = await call(factory, record);
      this.observer.ran(record, performance.now() - started);
      bytes = this.encode(key, value, policy.ttlMs, record.factoryMs!, stamp);
    } catch (error) {
      if (record.factoryMs === undefined) this.observer.ran(record, performance.now() - started);
      // Whatever was thrown goes back to the caller as it is; the waiters get a readable copy.
      unwatch();
      lease.stop();
      await lease.fail(encodeFailure(error, this.settings.errorFields), refresh ? policy.backoffMs : 0);
      if (refresh) this.observer.refreshFailed(error, key);
      throw error;
    }
    unwatch();
    lease.stop();
    // Invalidated meanwhile (known here, or in Redis when the channel is not trusted): not written.
    let current: boolean;
    try {
      current = await this.tags.valid(stamp);
    } catch {
      current = false;
    }
    if (!current) {
      lease.release();
      this.observer.fence(key, record);
      return value;
    }
    if ((await lease.commit(bytes, policy.ttlMs + policy.graceMs)) === false) this.observer.fence(key, record);
    return value;
  }

  /**
   * Waits for the holder of the key's lease (`seen`: the lease as read), until `patience` runs out. A refresh's
   * waiter (`refresh`) has a stale value to serve: the holder's failure, a backoff or its deadline answer it
   * with NOTHING instead.
   */
  async wait(
    key: string,
    family: KeyFamily,
    token: string,
    seen: string,
    factory: Factory<unknown>,
    policy: Freshness,
    flight: Flight<unknown> | undefined,
    unusable: Buffer | undefined,
    patience: Patience,
    refresh: boolean,
    record: CallRecord,
  ): Promise<unknown> {
    this.observer.wait(key, record, refresh);
    const deadline = Date.now() + this.settings.waitTimeoutMs;
    let met = unusable ? 1 : 0;
    const waiting = performance.now();
    const bell = new Bell();
    const listening = await this.waker.listen(family.channel, bell.ring);
    let stopListening: (() => void) | undefined = listening.stop;
    let { holder, connection } = leaseHolder(seen);
    try {
      for (let attempt = 0; ; attempt++) {
        // The leader's wake-up carries the value it committed: no round trip to read it back.
        const pushed = bell.takeValue(holder);
        if (pushed) {
          // One its tags invalidated is read again below, and then led over.
          const envelope = await this.usable(key, pushed).catch(() => undefined);
          if (envelope) return envelope.value;
        }
        if (Date.now() >= patience.until) return patience.late();
        let reply: ScriptReply[];
        try {
          reply = (await this.acquire(key, family, token, holder, unusable, refresh)) as ScriptReply[];
        } catch (error) {
          return refresh ? NOTHING : await this.uncached(key, factory, error, record);
        }
        const kind = (reply[0] as Buffer)[0];
        if (kind === KIND_VALUE) {
          let envelope: Envelope | undefined;
          try {
            envelope = await this.usable(key, reply[1] as Buffer);
          } catch (error) {
            return refresh ? NOTHING : await this.uncached(key, factory, error, record);
          }
          if (envelope) return envelope.value;
          // Re-check at once, asking to lead over the unusable bytes (LEAD_OVER of them at most).
          if (++met > LEAD_OVER) return refresh ? NOTHING : await this.uncached(key, factory, undefined, record);
          unusable = reply[1] as Buffer;
          continue;
        }
        if (kind === KIND_ERROR) {
          if (refresh) return NOTHING;
          throw decodeFailure(reply[1] as Buffer);
        }
        // Only a refresh's re-check is told of a backoff; anyone else would be answered without the cache.
        if (kind === KIND_BACKOFF) return refresh ? NOTHING : await this.uncached(key, factory, undefined, record);
        if (kind === KIND_LEAD) {
          stopListening();
          stopListening = undefined;
          this.observer.takeover(key, record, refresh);
          return await within(this.lead(key, family, token, factory, policy, flight, refresh, record), patience);
        }
        seen = (reply[1] as Buffer).toString();
        ({ holder, connection } = leaseHolder(seen));
        const leaseLeft = reply[2] as number;
        const left = Math.min(deadline, patience.until) - Date.now();
        if (left <= 0) return Date.now() >= patience.until ? patience.late() : await this.waitedTooLong(key, factory, record);
        // Re-check right after the holder's lease would expire, so a crashed holder is replaced promptly.
        // While the subscription is trusted the wake-up comes by itself: no polling in between.
        const untilExpiry = leaseLeft > 0 ? leaseLeft + 2 : Infinity;
        let expiresAt = Date.now() + untilExpiry;
        // A holder whose connection is known is looked at every HOLDER_CHECK_MS: a dead process's
        // connection closes at once, so its waiters take over then, not when its lease expires.
        const watch = () => (connection === undefined ? Infinity : HOLDER_CHECK_MS);
        // A holder first seen is looked at at once (it may have died before this call arrived), then every
        // HOLDER_CHECK_MS while this waiter sleeps.
        const lookNow = attempt === 0 && connection !== undefined && listening.trusted();
        let rung = lookNow ? false : await bell.sleep(Math.min(listening.trusted() ? untilExpiry : pollDelay(attempt), left, untilExpiry, watch()));
        while (!rung) {
          const remaining = Math.min(deadline, patience.until) - Date.now();
          if (remaining <= 0) break;
          if (connection !== undefined) {
            const alive = await this.store.alive(family.lease, connection).catch(() => true);
            // Gone: seize the lease if it is still the one seen, then re-check at once (this call may lead).
            if (alive === false) {
              await this.store.run(this.scripts.seize, [family.lease, family.channel], [seen, holder]).catch(() => 0);
              break;
            }
            if (alive === undefined) connection = undefined;
          }
          // Not trusted: the re-check polls. Trusted and not woken past the lease's expiry: it has expired
          // (a crashed holder sends no wake-up) or was renewed. One PTTL tells which, instead of a re-check
          // script: a lease still held is waited out again, since anything that ends it or changes its
          // holder (commit, failure, release, delete, takeover's commit) sends a wake-up.
          if (!listening.trusted()) break;
          if (Date.now() >= expiresAt) {
            const held = await this.store.pttl(family.lease).catch(() => -2);
            if (held <= 0) break;
            expiresAt = Date.now() + held + 2;
          }
          rung = await bell.sleep(Math.min(expiresAt - Date.now(), remaining, watch()));
        }
      }
    } finally {
      stopListening?.();
      if (!refresh && record.factoryMs === undefined) this.observer.waited(record, performance.now() - waiting);
    }
  }

  /** A caller waited `wait.timeout` for another caller's computation. */
  async waitedTooLong(key: string, factory: Factory<unknown>, record: CallRecord): Promise<unknown> {
    this.observer.timeout(record);
    if (this.settings.onTimeout === 'throw') throw new WaitTimeoutError(key, this.settings.waitTimeoutMs);
    return this.observer.run(factory, record);
  }

  /** `refresh`: the caller has a value to serve meanwhile, so a refresh backoff applies to it. */
  acquire(key: string, family: KeyFamily, token: string, holder: string, unusable: Buffer | undefined, refresh: boolean): Promise<ScriptReply> {
    const lease = String(this.settings.leaseTtlMs);
    const mode = refresh ? 'r' : 'm';
    // The lease records the connection it is taken from, so a waiter can tell at once that its holder died.
    const connection = this.store.connectionId(family.lease);
    return this.store.run(
      this.scripts.acquire,
      [family.value, family.lease, family.failure(holder), family.backoff],
      // Its length and first bytes (the header and timestamps) tell the unusable value from any other.
      unusable ? [token, lease, mode, connection, String(unusable.length), unusable.subarray(0, IDENTITY_BYTES)] : [token, lease, mode, connection],
      // The caller gave up on this reply and answered without the cache: hand back a lease it got late.
      (late) => {
        if (Array.isArray(late) && (late[0] as Buffer)[0] === KIND_LEAD) new Lease(this.leases, key, family, token).release();
      },
      isAcquireReply,
    );
  }

  /** A stored value this call may hand out: readable, and valid by its tags now; rejects if their versions cannot be read. */
  async usable(key: string, bytes: Buffer): Promise<Envelope | undefined> {
    const envelope = this.read(key, bytes);
    return envelope !== undefined && (await this.tags.valid(envelope.stamp)) ? envelope : undefined;
  }

  async uncached(key: string, factory: Factory<unknown>, cause: unknown, record: CallRecord): Promise<unknown> {
    this.observer.uncached(record);
    if (cause !== undefined) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const what = `answering '${key}' without the cache`;
      // A refusal by the ACL is coded apart from Redis being unavailable (waiting will not help), and
      // names the command refused, inside a script too (refusedBy).
      this.observer.fault(cause instanceof RedisUnavailableError ? cause : (refusedBy(what, cause) ?? new RedisUnavailableError(`${what}: ${reason}`, cause)), key);
    }
    return this.observer.run(factory, record);
  }

  read(key: string, bytes: Buffer) {
    try {
      const envelope = this.format.decode(bytes, key);
      if (envelope === OTHER_KEY) {
        // Only a reply handed to the wrong command gives one key's read another key's value (the value key
        // is named after the key): never served, and read as unusable bytes, so a miss follows as usual.
        this.observer.fault(
          new MisalignedReplyError(`the value read for '${key}' was written for another key: the Redis connection's replies are misaligned (each handed to another command); it is not served`, 'GET'),
          key,
        );
        return undefined;
      }
      if (envelope) return envelope;
      this.observer.fault(new RedisUnavailableError(`the value at '${key}' was not written by this cache's format or codec (${this.settings.codec.name}); it is treated as missing`), key);
    } catch (error) {
      this.observer.fault(error, key);
    }
    return undefined;
  }

  encode(key: string, value: unknown, ttl: number, delta: number, stamp: Stamp): Buffer {
    try {
      return this.format.encode(value, key, Date.now(), ttl, delta, stamp);
    } catch (cause) {
      throw new EncodeError(key, cause);
    }
  }
}

/**
 * Whether `reply` has the acquire script's shape (lease/scripts.ts): {'v', bytes} | {'e', bytes} | {'l'} |
 * {'w', holder, pttl} | {'b', pttl}. Anything else was handed to the script from another command (a
 * misaligned connection, store/standalone.ts): the store refuses it instead of a caller misreading it.
 */
export function isAcquireReply(reply: ScriptReply): boolean {
  if (!Array.isArray(reply) || reply.length === 0 || !Buffer.isBuffer(reply[0]) || reply[0].length !== 1) return false;
  switch (reply[0][0]) {
    case KIND_VALUE:
    case KIND_ERROR:
      return Buffer.isBuffer(reply[1]);
    case KIND_LEAD:
      return true;
    case KIND_WAIT:
      return Buffer.isBuffer(reply[1]) && typeof reply[2] === 'number';
    case KIND_BACKOFF:
      return typeof reply[1] === 'number';
    default:
      return false;
  }
}

/**
 * How many unusable values (unreadable, or invalidated by a tag) one call asks to lead over before it
 * answers uncached. One is the common case; under a stream of invalidations the value that replaced it
 * can be invalidated too before this call reads it (a commit lands just after a tag's new version), and
 * answering those uncached would run the function outside the lease. The bound stops a loop where two
 * processes cannot read each other's values (two codecs during a deploy) and keep replacing them.
 */
export const LEAD_OVER = 3;

/** How often a waiter asks whether its lease holder's connection is still open (CLIENT LIST ID). */
export const HOLDER_CHECK_MS = 100;

/** A lease's value: its holder's token, and the id of the connection it was taken or last renewed from. */
function leaseHolder(lease: string): { holder: string; connection: string | undefined } {
  const space = lease.indexOf(' ');
  return space < 0 ? { holder: lease, connection: undefined } : { holder: lease.slice(0, space), connection: lease.slice(space + 1) };
}

/** Polling backoff for a waiter whose wake-up may have been lost: 50 ms growing to 1 s, jittered by ±20%. */
function pollDelay(attempt: number): number {
  return Math.min(50 * 1.5 ** attempt, 1000) * (0.8 + Math.random() * 0.4);
}
