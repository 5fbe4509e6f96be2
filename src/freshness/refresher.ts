import { randomUUID } from 'node:crypto';
import type { KeyLayout } from '../keys';
import { KIND_BACKOFF, KIND_LEAD, KIND_VALUE, KIND_WAIT, NOTHING, type Factory, type Protocol } from '../protocol';
import type { Flight } from '../singleflight';
import type { ScriptReply } from '../store/store';
import type { RefreshOutcome } from '../telemetry/channels';
import { note, type Observer } from '../telemetry/observer';
import type { CallRecord } from '../telemetry/record';
import { within } from './patience';
import type { Freshness } from './policy';
import { Refreshes } from './refreshes';

/** After Redis failed a refresh attempt, how long this process waits before the next. */
const REFRESH_RETRY_MS = 1_000;

/**
 * Stale-while-revalidate and early refresh, fleet-wide. Invariants:
 * - a refresh takes the key's lease exactly as a miss does, so one caller in the whole fleet refreshes a
 *   key at a time, and its commit is fenced: a delete() or set() during a refresh voids it;
 * - callers never wait on a refresh they did not ask to wait for (softTimeout): they return what they have;
 * - a failed refresh keeps the stale value served and starts the backoff in Redis, so no process retries
 *   before it ends (lease/scripts.ts, fail and acquire).
 */
export class Refresher {
  private readonly refreshes: Refreshes;

  constructor(
    private readonly protocol: Protocol,
    private readonly keys: KeyLayout,
    private readonly observer: Observer,
    maxHoldMs: number,
  ) {
    this.refreshes = new Refreshes(maxHoldMs);
  }

  /** The key was invalidated here: what this process learnt about its refresh no longer holds. */
  forget(key: string): void {
    this.refreshes.forget(key);
  }

  /**
   * A stale value within grace: served, while one caller in the fleet refreshes it. With softTimeout the
   * caller first waits that long for the refresh (this process's, or the one running elsewhere); a failed
   * refresh is answered with the stale value too (stale-if-error).
   */
  async serveStale(key: string, factory: Factory<unknown>, policy: Freshness, flight: Flight<unknown>, bytes: Buffer, stale: unknown, record: CallRecord): Promise<unknown> {
    if (policy.softTimeoutMs > 0) {
      const until = Date.now() + policy.softTimeoutMs;
      const attempt = this.refreshes.inFlight(key, Date.now()) ?? (this.refreshes.mayStart(key, Date.now(), true, bytes) ? this.refreshes.track(key, this.attempt(key, factory, policy, bytes, flight, until)) : undefined);
      if (attempt) {
        const fresh = await within(attempt, { until, late: () => NOTHING });
        if (fresh !== NOTHING) {
          this.observer.refreshed(record);
          return fresh;
        }
      }
    } else {
      this.refreshLater(key, factory, policy, bytes);
    }
    this.observer.stale(key, 'redis', record);
    return stale;
  }

  /** Starts a background refresh of the value in `bytes`, unless this process already runs or defers one. */
  refreshLater(key: string, factory: Factory<unknown>, policy: Freshness, bytes: Buffer): void {
    if (this.refreshes.mayStart(key, Date.now(), false, bytes)) this.refreshes.track(key, this.attempt(key, factory, policy, bytes, undefined, 0));
  }

  /** One refresh attempt, traced on `herdless:refresh` when someone listens. */
  private attempt(key: string, factory: Factory<unknown>, policy: Freshness, bytes: Buffer, flight: Flight<unknown> | undefined, until: number): Promise<unknown> {
    return this.observer.refreshing(key, (record) => this.refresh(key, factory, policy, bytes, flight, until, record));
  }

  /**
   * One refresh attempt: takes the key's lease, as a miss would, and leads; or learns that a refresh runs
   * elsewhere or is backed off, and returns. Only a caller with patience (`until`) waits for another
   * process's refresh. Resolves to the fresh value, or NOTHING; never rejects.
   */
  private async refresh(key: string, factory: Factory<unknown>, policy: Freshness, bytes: Buffer, flight: Flight<unknown> | undefined, until: number, record: CallRecord): Promise<unknown> {
    const family = this.keys.family(key);
    const token = randomUUID();
    let reply: ScriptReply[];
    try {
      reply = (await this.protocol.acquire(key, family, token, '', bytes, true)) as ScriptReply[];
    } catch (error) {
      this.observer.fault(error, key);
      this.refreshes.quietUntil(key, Date.now() + REFRESH_RETRY_MS, false, bytes);
      return settle(record, 'unavailable', NOTHING);
    }
    const kind = (reply[0] as Buffer)[0];
    if (kind === KIND_LEAD) {
      this.observer.refresh(key);
      return this.protocol.lead(key, family, token, factory, policy, flight, true, record).then(
        // Fenced, or run without the cache (its versions could not be read): the protocol noted it.
        (value) => settle(record, record.outcome === 'fence' ? 'fence' : record.outcome === 'uncached' ? 'unavailable' : 'refreshed', value),
        () => settle(record, 'failed', NOTHING),
      );
    }
    if (kind === KIND_VALUE) {
      // A newer value than the caller's (any value, undefined and null included, is one).
      const envelope = await this.protocol.usable(key, reply[1] as Buffer).catch(() => undefined);
      return envelope ? settle(record, 'newer', envelope.value) : settle(record, 'unavailable', NOTHING);
    }
    if (kind === KIND_BACKOFF) {
      this.refreshes.quietUntil(key, Date.now() + (reply[1] as number), true, bytes);
      return settle(record, 'backoff', NOTHING);
    }
    settle(record, 'elsewhere', undefined);
    if (kind !== KIND_WAIT) return NOTHING;
    this.refreshes.quietUntil(key, Date.now() + Math.max(1, reply[2] as number), false, bytes);
    if (until <= Date.now()) return NOTHING;
    // A holder that dies meanwhile is taken over: this attempt then ran the function (its record says so).
    return this.protocol.wait(key, family, token, (reply[1] as Buffer).toString(), factory, policy, flight, bytes, { until, late: () => NOTHING }, true, record).then(
      (value) => (record.factoryMs === undefined ? value : settle(record, record.outcome === 'fence' ? 'fence' : 'refreshed', value)),
      () => settle(record, record.factoryMs === undefined ? 'elsewhere' : 'failed', NOTHING),
    );
  }
}

/** Notes a refresh attempt's outcome in its record (and its context, when traced); returns `value`. */
function settle<T>(record: CallRecord, outcome: RefreshOutcome, value: T): T {
  note(record, outcome, undefined);
  return value;
}
