import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms`, so no call the benchmark makes can hang it. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

/** Epoch ms to a microsecond: the process's time origin (from the system clock) plus the monotonic clock, one clock for every process of the machine. */
export const epochNow = () => performance.timeOrigin + performance.now();

/** Sleeps until the epoch ms `at` (epochNow's clock); at once if it has passed. */
export const sleepUntil = (at: number) => sleep(Math.max(0, at - epochNow()));
