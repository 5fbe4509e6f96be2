import { randomUUID } from 'node:crypto';
import { startRedis } from './embedded-redis';

/*
 * What every example under examples/ shares: a Redis (REDIS_URL if set, otherwise a throw-away one
 * started here and stopped by stop()), a namespace of its own so a run never reads an earlier run's
 * entries, and check(), which fails the example (exit code 1) when what it claims did not happen.
 */
export interface ExampleRedis {
  readonly url: string;
  /** A fresh namespace per run, e.g. 'example-eviction-1a2b3c4d'. */
  readonly namespace: string;
  stop(): Promise<void>;
}

export async function exampleRedis(name: string): Promise<ExampleRedis> {
  const namespace = `example-${name}-${randomUUID().slice(0, 8)}`;
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, namespace, stop: async () => undefined };
  const redis = await startRedis();
  return { url: redis.url, namespace, stop: () => redis.stop() };
}

export function check(condition: boolean, claim: string): void {
  if (!condition) {
    console.error(`\nFAILED: ${claim}`);
    process.exitCode = 1;
    throw new Error(`example check failed: ${claim}`);
  }
}

/** Runs an example's main, then always stops what it started; any error fails the process. */
export function runExample(main: () => Promise<void>, cleanup: () => Promise<void>): void {
  main()
    .catch((error) => {
      if (!process.exitCode) console.error(error);
      process.exitCode = 1;
    })
    .finally(() => cleanup().catch((error) => console.error('cleanup failed:', error)));
}
