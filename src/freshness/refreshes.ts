import { IDENTITY_BYTES } from '../envelope';

/**
 * Background refreshes started by this process, per key. Invariants:
 * - at most one refresh attempt per key is in flight in this process: hits that find the key due for a
 *   refresh while one runs just return what they have. An attempt older than lease.maxHold no longer
 *   counts: its function is presumed hung and its lease was released (lease/lease.ts), so a hung
 *   function holds a key's refreshes back for maxHold, not for good;
 * - once Redis said the refresh of a value is someone else's (a lease held elsewhere) or must wait (a
 *   failed refresh's backoff), no attempt to refresh that same value starts here before that ends: a
 *   stale or early hit then costs this process nothing beyond its GET, instead of one script per hit.
 *   A different value (the refresh committed, or set() wrote) ends the quiet period at once: the lease
 *   and the backoff were about the value that was there;
 * - what it keeps is bounded: quiet periods that are over are swept once they outnumber those running.
 */
export class Refreshes {
  private readonly running = new Map<string, Running>();
  private readonly quiet = new Map<string, Quiet>();
  private sweepAt = 1024;

  constructor(private readonly maxHoldMs: number) {}

  /** The attempt in flight for `key`, if any. */
  inFlight(key: string, now: number): Promise<unknown> | undefined {
    const running = this.running.get(key);
    if (running === undefined) return undefined;
    if (now - running.since < this.maxHoldMs) return running.attempt;
    this.running.delete(key);
    return undefined;
  }

  /**
   * Whether an attempt may start for `key` now. A `patient` caller (one that will wait for a refresh
   * running elsewhere) is held back by a backoff only.
   */
  mayStart(key: string, now: number, patient: boolean, value: Buffer): boolean {
    if (this.inFlight(key, now)) return false;
    const quiet = this.quiet.get(key);
    if (quiet === undefined) return true;
    if (quiet.until > now && sameValue(quiet, value)) return patient && !quiet.backoff;
    this.quiet.delete(key);
    return true;
  }

  /** Tracks `attempt` as the key's one attempt in flight until it settles. */
  track<T>(key: string, attempt: Promise<T>): Promise<T> {
    const running = { attempt, since: Date.now() };
    this.running.set(key, running);
    const done = () => {
      if (this.running.get(key) === running) this.running.delete(key);
    };
    attempt.then(done, done);
    return attempt;
  }

  /** No attempt to refresh `value` of `key` before `until` (ms since the epoch); `backoff`: because a refresh failed. */
  quietUntil(key: string, until: number, backoff: boolean, value: Buffer): void {
    // A copy of the head: the value's own buffer would be kept alive, and it may be large.
    this.quiet.set(key, { until, backoff, length: value.length, head: Buffer.from(value.subarray(0, IDENTITY_BYTES)) });
    if (this.quiet.size < this.sweepAt) return;
    const now = Date.now();
    for (const [k, quiet] of this.quiet) if (quiet.until <= now) this.quiet.delete(k);
    this.sweepAt = Math.max(1024, this.quiet.size * 2);
  }

  /** The key was invalidated here: what was learnt about its refresh no longer holds. */
  forget(key: string): void {
    this.quiet.delete(key);
  }
}

interface Quiet {
  readonly until: number;
  readonly backoff: boolean;
  /** The value it is about. */
  readonly length: number;
  readonly head: Buffer;
}

function sameValue(quiet: Quiet, value: Buffer): boolean {
  return value.length === quiet.length && quiet.head.equals(value.subarray(0, quiet.head.length));
}

interface Running {
  readonly attempt: Promise<unknown>;
  readonly since: number;
}
