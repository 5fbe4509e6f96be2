/*
 * One process of the stampede demo (examples/stampede-demo.ts forks several). On the parent's word it fires
 * `requests` concurrent calls for one cold key through the chosen strategy and reports how long each took.
 * The slow function counts its runs in Redis (INCR), so the count covers every process.
 */
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { createCache } from '../src';

export interface DemoRun {
  strategy: 'naive' | 'herdless';
  url: string;
  namespace: string;
  key: string;
  /** Where the slow function counts its runs. */
  counter: string;
  requests: number;
  delayMs: number;
}

/** From the parent: get ready for a run (connect, warm up), then fire it at `startAt`. */
export type DemoMessage = { type: 'prepare'; run: DemoRun } | { type: 'go'; startAt: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects and warms up, then returns the run: `requests` concurrent calls, timed one by one. */
async function prepare(job: DemoRun): Promise<(startAt: number) => Promise<number[]>> {
  const client = createClient({ url: job.url });
  await client.connect();
  const cache = createCache({ redis: { url: job.url }, namespace: job.namespace });
  // Connect and load scripts before the clock starts.
  await cache.get('warm-up');
  const slowFunction = async () => {
    await client.incr(job.counter);
    await sleep(job.delayMs);
    return { report: 'expensive', computedBy: process.pid };
  };
  // The usual code: look in the cache; on a miss compute and store. Every caller that misses computes.
  const naive = async () => {
    const cached = await client.get(`${job.namespace}:${job.key}`);
    if (cached !== null) return JSON.parse(cached);
    const value = await slowFunction();
    await client.set(`${job.namespace}:${job.key}`, JSON.stringify(value), { PX: 60_000 });
    return value;
  };
  const call = job.strategy === 'naive' ? naive : () => cache.getOrSet(job.key, slowFunction);
  return async (startAt) => {
    try {
      await sleep(startAt - Date.now());
      return await Promise.all(
        Array.from({ length: job.requests }, async () => {
          const started = performance.now();
          await call();
          return performance.now() - started;
        }),
      );
    } finally {
      await cache.close();
      await client.quit();
    }
  };
}

let armed: ((startAt: number) => Promise<number[]>) | undefined;

process.on('message', (message: DemoMessage) => {
  const step =
    message.type === 'prepare'
      ? prepare(message.run).then((run) => {
          armed = run;
          return { ready: true };
        })
      : armed!(message.startAt).then((latencies) => ({ latencies }));
  step.then(
    (reply) => process.send?.(reply),
    (error) => process.send?.({ error: String(error?.stack ?? error) }),
  );
});
// The demo ended or died: leave with it.
process.on('disconnect', () => process.exit(0));
