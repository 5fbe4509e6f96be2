/**
 * Bounds how long a caller waits on Redis. The command itself is not cancelled (Redis may still run it);
 * callers that act on a late reply (a lease taken after giving up) use `late` to undo it.
 *
 * One coarse timer per store instead of a timer per command: the hit path is one GET, and a setTimeout
 * plus clearTimeout per GET cost more than the bookkeeping here. A call is released between `ms` and
 * `ms` + one tick (a tenth of `ms`) after it started.
 */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} got no reply within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

interface Pending {
  readonly at: number;
  readonly what: string;
  readonly reject: (error: Error) => void;
  expired: boolean;
}

export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly ms: number) {}

  bound<T>(promise: Promise<T>, what: string, late?: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { at: Date.now() + this.ms, what, reject, expired: false };
      this.pending.add(entry);
      if (!this.timer) this.start();
      promise.then(
        (value) => {
          if (entry.expired) late?.(value);
          else {
            this.pending.delete(entry);
            resolve(value);
          }
        },
        (error) => {
          if (!entry.expired) {
            this.pending.delete(entry);
            reject(error);
          }
        },
      );
    });
  }

  private start(): void {
    this.timer = setInterval(() => this.expire(), Math.max(1, Math.ceil(this.ms / 10)));
    this.timer.unref();
  }

  private expire(): void {
    const now = Date.now();
    for (const entry of this.pending) {
      if (entry.at > now) continue;
      entry.expired = true;
      this.pending.delete(entry);
      entry.reject(new DeadlineError(entry.what, this.ms));
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
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
