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

/**
 * The commands issued between two ticks. None was issued after `closedAt`, the tick that ended the epoch,
 * so a command of this epoch has waited at least `now - closedAt`; it gives up once that reaches `ms`,
 * which is `ms` to `ms` plus one tick after it was issued, the same bound as stamping each command with
 * the clock. The clock is read once per tick instead of once per command: Date.now() costs about 40 ns,
 * and every hit is a command.
 */
class Epoch {
  closedAt = Infinity;
}

/**
 * A command waiting for its reply. Pending commands are a doubly linked list through the entries
 * themselves (as node-redis keeps its own queue), not a Set: linking and unlinking are a few field writes
 * and leave nothing behind. A Set that every hit adds to and deletes from (with the Map that singleflight.ts
 * used the same way) made the hit benchmark's scavenges promote three times as much and last 3.3 ms
 * instead of 1.2: over 1 us more per hit at 32 callers, and a p99 of 4 ms instead of under 1 ms.
 */
class Pending {
  prev: Pending | undefined = undefined;
  next: Pending | undefined = undefined;
  expired = false;
  constructor(
    readonly epoch: Epoch,
    readonly what: string,
    readonly reject: (error: Error) => void,
  ) {}
}

export class Deadlines {
  private head: Pending | undefined = undefined;
  private epoch = new Epoch();
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

  /**
   * `check(value)`: an error when the reply cannot be the command's own (a misaligned connection): the
   * caller rejects with it, and a late reply that fails it is not handed to `late`.
   */
  bound<T>(promise: Promise<T>, what: string, late?: (value: T) => void, check?: (value: T) => Error | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.timer) this.start();
      const entry = new Pending(this.epoch, what, reject);
      this.link(entry);
      promise.then(
        (value) => {
          this.answeredSinceTick = true;
          const wrong = check?.(value);
          if (entry.expired) {
            if (wrong === undefined) late?.(value);
          } else {
            this.unlink(entry);
            if (wrong === undefined) resolve(value);
            else reject(wrong);
          }
        },
        (error) => {
          if (this.answered(error)) this.answeredSinceTick = true;
          if (!entry.expired) {
            this.unlink(entry);
            reject(error);
          }
        },
      );
    });
  }

  private link(entry: Pending): void {
    entry.next = this.head;
    if (this.head) this.head.prev = entry;
    this.head = entry;
  }

  private unlink(entry: Pending): void {
    if (entry.prev) entry.prev.next = entry.next;
    else if (this.head === entry) this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
  }

  private start(): void {
    this.busy(true);
    this.quietTicks = 0;
    this.answeredSinceTick = false;
    this.epoch = new Epoch();
    this.timer = setInterval(() => this.expire(), Math.max(1, Math.ceil(this.ms / TICKS)));
    this.timer.unref();
  }

  private expire(): void {
    const now = Date.now();
    this.epoch.closedAt = now;
    this.epoch = new Epoch();
    this.quietTicks = this.answeredSinceTick ? 0 : this.quietTicks + 1;
    this.answeredSinceTick = false;
    const quiet = this.quietTicks >= TICKS;
    for (let entry = this.head; entry; ) {
      const next = entry.next;
      const waited = now - entry.epoch.closedAt;
      if (waited >= this.ms && (quiet || waited >= HARD_LIMIT * this.ms)) {
        entry.expired = true;
        this.unlink(entry);
        entry.reject(new DeadlineError(entry.what, this.ms));
      }
      entry = next;
    }
    if (!this.head) {
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
