import { KEY_MESSAGE } from '../bus/invalidations';
import { LeaseHeldTooLongError } from '../errors';
import type { KeyFamily } from '../keys';
import { isRefusal, type ScriptReply, type Store } from '../store/store';
import type { LeaseScripts } from './scripts';

/** What a lease needs from the cache that holds it. */
export interface LeaseContext {
  readonly store: Store;
  readonly scripts: LeaseScripts;
  readonly leaseTtlMs: number;
  readonly maxHoldMs: number;
  /** The namespace's invalidation channel, which a commit publishes its key on. */
  readonly invalidations: string;
  readonly closed: boolean;
  fault(error: unknown, key: string | undefined): void;
  /** A write of `key` by this process is about to be sent: its memory tier drops the key at once. */
  writing(key: string): void;
}

/**
 * A lease this process holds, from acquire to its end. Invariants:
 * - while its function runs it is renewed every ttl/3; a renewal that comes back lost (the lease expired,
 *   was taken over, or was voided by delete()/set()) stops the renewals and calls `onLost`;
 * - it is held at most `maxHold`: then it is released so its waiters take over at once, `onLost` is
 *   called, and the late result is fenced like any other;
 * - it always ends. Each ending step (commit, fail, release) is fenced by the token, so repeating one is
 *   safe: it is retried in the background while Redis cannot be reached, until the lease would have
 *   expired anyway; a step Redis refuses outright (an error reply: OOM, a value over its limits) cannot
 *   succeed by repeating, so the lease is released instead and waiters move on without waiting out its TTL;
 * - nothing here throws outside a promise.
 */
export class Lease {
  private renewal: NodeJS.Timeout | undefined;
  private cap: NodeJS.Timeout | undefined;
  private lost = false;

  constructor(
    private readonly context: LeaseContext,
    private readonly key: string,
    private readonly family: KeyFamily,
    private readonly token: string,
    private readonly onLost: () => void = () => undefined,
  ) {}

  /** Starts renewing, and the cap on the total hold. */
  hold(): void {
    const { store, scripts, leaseTtlMs, maxHoldMs } = this.context;
    this.renewal = setInterval(() => {
      // With the connection it renews from: after a reconnection, waiters must see the new one alive.
      store.run(scripts.renew, [this.family.lease], [this.token, String(leaseTtlMs), store.connectionId(this.family.lease)]).then(
        (renewed) => renewed === 0 && this.lose(),
        (error) => this.context.fault(error, this.key),
      );
    }, Math.max(1, Math.floor(leaseTtlMs / 3)));
    this.renewal.unref();
    this.cap = setTimeout(() => {
      this.lose();
      this.context.fault(new LeaseHeldTooLongError(this.key, maxHoldMs), this.key);
      this.release();
    }, maxHoldMs);
    this.cap.unref();
  }

  /** The function settled: no more renewals. */
  stop(): void {
    clearInterval(this.renewal);
    clearTimeout(this.cap);
  }

  /**
   * Writes the value, kept by Redis for `keepMs` (ttl + grace), if the lease is still ours: true written,
   * false fenced, undefined if Redis did not answer (retried in the background).
   */
  async commit(bytes: Buffer, keepMs: number): Promise<boolean | undefined> {
    const { family, token } = this;
    const step = () => this.context.store.run(this.context.scripts.commit, [family.value, family.lease, family.channel, family.backoff], [token, bytes, String(keepMs), this.context.invalidations, KEY_MESSAGE + this.key]);
    this.context.writing(this.key);
    try {
      const written = (await step()) === 1;
      if (!written) this.lose();
      return written;
    } catch (error) {
      this.endLater(step, error);
      return undefined;
    }
  }

  /**
   * Ends the lease and leaves the error (an encoded failure) for this lease's waiters in every process;
   * `backoffMs` > 0 (a failed refresh) also starts the fleet-wide refresh backoff.
   */
  async fail(payload: string, backoffMs = 0): Promise<void> {
    const { family, token } = this;
    const step = () =>
      this.context.store.run(this.context.scripts.fail, [family.lease, family.failure(token), family.channel, family.backoff], [token, payload, String(this.context.leaseTtlMs), String(backoffMs)]);
    try {
      await step();
    } catch (error) {
      this.endLater(step, error);
    }
  }

  /**
   * The value being computed was invalidated meanwhile (one of its tags changed, a clear()): the lease is
   * given back at once, as delete() would void it, so a waiter takes over; the late result is fenced.
   */
  void(): void {
    this.lose();
    this.release();
  }

  /** Gives the lease back without a value; a waiter then takes over. */
  release(): void {
    this.stop();
    const step = this.releaseStep;
    Promise.resolve().then(step).catch((error) => this.endLater(step, error));
  }

  private readonly releaseStep = (): Promise<ScriptReply> =>
    this.context.store.run(this.context.scripts.release, [this.family.lease, this.family.channel], [this.token]);

  private lose(): void {
    this.stop();
    if (this.lost) return;
    this.lost = true;
    this.onLost();
  }

  /** `step` failed with `error`: retry it while Redis cannot be reached; release instead if Redis refused it. */
  private endLater(step: () => Promise<unknown>, error: unknown): void {
    const giveUpAt = Date.now() + this.context.leaseTtlMs;
    let delay = 100;
    const failed = (failure: unknown, report: boolean) => {
      if (isRefusal(failure)) {
        this.context.fault(failure, this.key);
        if (step !== this.releaseStep) this.release();
        return;
      }
      if (report) this.context.fault(failure, this.key);
      if (this.context.closed || Date.now() + delay > giveUpAt) return;
      setTimeout(() => {
        delay = Math.min(delay * 2, 1_000);
        Promise.resolve().then(step).catch((again: unknown) => failed(again, false));
      }, delay).unref();
    };
    failed(error, true);
  }
}
