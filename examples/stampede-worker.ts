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
  /** Epoch ms at which every process starts, so the herd arrives at once. */
  startAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(job: DemoRun): Promise<number[]> {
  const client = createClient({ url: job.url });
  await client.connect();
  const cache = createCache({ redis: { url: job.url }, namespace: job.namespace });
  try {
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
    await sleep(job.startAt - Date.now());
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
}

process.on('message', (job: DemoRun) => {
  run(job).then(
    (latencies) => process.send?.({ latencies }),
    (error) => process.send?.({ error: String(error?.stack ?? error) }),
  );
});
// The demo ended or died: leave with it.
process.on('disconnect', () => process.exit(0));
