/**
 * How long a caller waits, and what it gets when that runs out: a stale value once softTimeout passes, a
 * TimeoutError once hardTimeout passes. Invariant: giving up on a computation never stops it — it goes on
 * and commits (fenced as always) — and its late outcome, a failure included, is never left unhandled.
 */
export interface Patience {
  /** When the caller stops waiting (ms since the epoch); Infinity: it waits as long as the protocol does. */
  readonly until: number;
  /** The caller's answer once `until` passes. */
  late(): unknown;
}

export const UNBOUNDED: Patience = { until: Infinity, late: () => undefined };

/** `work`'s outcome, or `patience.late()` if `work` has not settled by `patience.until`. */
export function within<T>(work: Promise<T>, patience: Patience): Promise<unknown> {
  if (patience.until === Infinity) return work;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(patience.late());
      } catch (error) {
        reject(error);
      }
    }, Math.max(0, patience.until - Date.now()));
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
