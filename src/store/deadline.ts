/**
 * Bounds how long a caller waits on Redis. The command itself is not cancelled (Redis may still run it);
 * callers that act on a late reply (a lease taken after giving up) use `late` to undo it.
 *
 * What is bounded is Redis going quiet, not a command's time in line: a command gives up `ms` after it
 * was issued only if the connection has also answered nothing for `ms` (ten ticks in a row). A burst of thousands of misses
 * in one process queues behind itself while Redis answers steadily; failing those calls would send every
 * one of them to the database, the very herd the cache exists to stop. A hung or dead server answers
 * nothing, so its callers are released after `ms` (plus one tick) as before; HARD_LIMIT bounds a server
 * that answers, but too slowly.
 *
 * One coarse timer per connection instead of a timer per command: the hit path is one GET, and a
 * setTimeout plus clearTimeout per GET cost more than the bookkeeping here. The tick is a tenth of `ms`.
 */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} got no reply within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

const HARD_LIMIT = 10;
const TICKS = 10;

interface Pending {
  readonly at: number;
  readonly hardAt: number;
  readonly what: string;
  readonly reject: (error: Error) => void;
  expired: boolean;
}

export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  // Ticks in a row without an answer. Counted in ticks, not clock time, so a stall of this process's own
  // event loop (a burst being decoded) does not pass for a quiet server.
  private quietTicks = 0;
  private answeredSinceTick = false;

  /**
   * `answered(error)`: whether a rejection still shows the server answering (an error reply).
   * `busy(true)` when commands become pending, `busy(false)` once none has been for a tick.
   */
  constructor(
    readonly ms: number,
    private readonly answered: (error: unknown) => boolean = () => false,
    private readonly busy: (busy: boolean) => void = () => undefined,
  ) {}

  bound<T>(promise: Promise<T>, what: string, late?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const now = Date.now();
      const entry: Pending = { at: now + this.ms, hardAt: now + HARD_LIMIT * this.ms, what, reject, expired: false };
      this.pending.add(entry);
      if (!this.timer) this.start();
      promise.then(
        (value) => {
          this.answeredSinceTick = true;
          if (entry.expired) late?.(value);
          else {
            this.pending.delete(entry);
            resolve(value);
          }
        },
        (error) => {
          if (this.answered(error)) this.answeredSinceTick = true;
          if (!entry.expired) {
            this.pending.delete(entry);
            reject(error);
          }
        },
      );
    });
  }

  private start(): void {
    this.busy(true);
    this.quietTicks = 0;
    this.answeredSinceTick = false;
    this.timer = setInterval(() => this.expire(), Math.max(1, Math.ceil(this.ms / TICKS)));
    this.timer.unref();
  }

  private expire(): void {
    const now = Date.now();
    this.quietTicks = this.answeredSinceTick ? 0 : this.quietTicks + 1;
    this.answeredSinceTick = false;
    const quiet = this.quietTicks >= TICKS;
    for (const entry of this.pending) {
      if (entry.at > now || (!quiet && entry.hardAt > now)) continue;
      entry.expired = true;
      this.pending.delete(entry);
      entry.reject(new DeadlineError(entry.what, this.ms));
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.busy(false);
    }
  }
}

/**
 * A one-off bound, for waits off the hot path (connecting, subscribing, loading scripts): its own timer,
 * cleared as soon as the wait ends, so nothing outlives the wait.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
