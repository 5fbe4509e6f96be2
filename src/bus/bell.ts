const KIND_VALUE = 0x76; // 'v'
const NEWLINE = 0x0a;

/**
 * A waiter's view of its key's wake-ups. Invariants:
 * - a wake-up that arrives while the waiter is busy re-checking is remembered, so it is never slept through;
 * - the wake-ups of a key are an ordered stream and the latest one wins: a commit's value ('v' + token +
 *   '\n' + envelope) is kept only until the next wake-up, which replaces it (a delete's carries no value);
 * - a kept value is handed out only if the lease that committed it is the one the waiter's latest
 *   re-check saw: a value from an earlier lease was written before that re-check, and the re-check,
 *   which found no value, is newer.
 */
export class Bell {
  private rung = false;
  private wake: (() => void) | undefined;
  private latest: Buffer | undefined;

  readonly ring = (message?: Buffer): void => {
    this.latest = message !== undefined && message[0] === KIND_VALUE ? message : undefined;
    this.rung = true;
    this.wake?.();
  };

  /** The envelope committed by lease `holder`, if the latest wake-up carried one; it is taken once. */
  takeValue(holder: string): Buffer | undefined {
    const message = this.latest;
    this.latest = undefined;
    if (message === undefined) return undefined;
    const end = 1 + holder.length;
    if (message.length <= end || message[end] !== NEWLINE || message.toString('latin1', 1, end) !== holder) return undefined;
    return message.subarray(end + 1);
  }

  /** Resolves true when woken by a wake-up (one that came while the waiter was busy included), false when `ms` passed. */
  sleep(ms: number): Promise<boolean> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const done = (rung: boolean) => {
        clearTimeout(timer);
        this.wake = undefined;
        this.rung = false;
        resolve(rung);
      };
      const timer = setTimeout(() => done(false), ms);
      this.wake = () => done(true);
    });
  }
}
