/**
 * Bounds how long a caller waits on Redis. The command itself is not cancelled (Redis may still run it);
 * callers that act on a late reply (a lease taken after giving up) use `late` to undo it.
 */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} got no reply within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(new DeadlineError(what, ms));
    }, ms);
    promise.then(
      (value) => {
        if (expired) late?.(value);
        else {
          clearTimeout(timer);
          resolve(value);
        }
      },
      (error) => {
        if (!expired) {
          clearTimeout(timer);
          reject(error);
        }
      },
    );
  });
}
