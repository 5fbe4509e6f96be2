/*
 * Wrapping a plain function with cached(): no class, no decorators. Run it:
 *   npx ts-node --transpile-only examples/cached-function.ts
 */
import { createCache } from '../src';
import { cached } from '../decorators';
import { check, exampleRedis, runExample } from '../support/examples';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let upstreamCalls = 0;

// A slow upstream call. Any function works, sync or async; the wrapper always returns a promise.
async function exchangeRate(from: string, to: string): Promise<number> {
  upstreamCalls++;
  await sleep(200);
  return from === to ? 1 : Number((1.08 + to.length / 100).toFixed(4));
}

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('cached-function');
  const cache = createCache({ redis: { url: redis.url }, namespace: redis.namespace });
  stop = async () => {
    await cache.close();
    await redis.stop();
  };

  // Same parameters, fully typed: rate(from: string, to: string) => Promise<number>.
  const rate = cached(exchangeRate, { cache, ttl: '30s', version: 1 });

  const answers = await Promise.all(Array.from({ length: 50 }, () => rate('EUR', 'USD')));
  console.log(`50 concurrent calls of rate('EUR', 'USD') -> ${answers[0]}`);
  console.log(`  upstream calls: ${upstreamCalls}: computed once, the other 49 callers waited for it`);
  check(upstreamCalls === 1 && new Set(answers).size === 1, 'one upstream call, one answer');

  for (let i = 0; i < 99; i++) await rate('EUR', 'USD');
  console.log(`99 more calls, one after another: upstream calls still ${upstreamCalls}: served from the cache`);
  check(upstreamCalls === 1, 'later calls are hits');

  console.log(`\nrate.key('EUR', 'USD')  = ${rate.key('EUR', 'USD')}`);
  console.log(`  (cache namespace, then the hash tag: function name, @version, arguments encoded by value)`);
  console.log(`rate.peek('EUR', 'GBP') = ${await rate.peek('EUR', 'GBP')}: nothing cached yet, and peek never calls upstream`);
  check(upstreamCalls === 1, 'peek does not compute');

  await rate.invalidate('EUR', 'USD');
  await rate('EUR', 'USD');
  console.log(`after rate.invalidate('EUR', 'USD') the next call computes again: upstream calls ${upstreamCalls}`);
  check(upstreamCalls === 2, 'invalidate makes the next call compute');
}, () => stop());
