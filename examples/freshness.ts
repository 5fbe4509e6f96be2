/*
 * Freshness: a hot key that expires without anyone waiting. Stale-while-revalidate (grace), stale-if-error
 * with a backoff, and early refresh. Run it:
 *   npx ts-node --transpile-only examples/freshness.ts
 */
import { createCache } from '../src';
import { check, exampleRedis, runExample } from '../support/examples';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let priceListRuns = 0;
let upstreamDown = false;

// A slow upstream: 300 ms per price list, and sometimes it is down.
async function loadPriceList(): Promise<{ version: number; computedAt: number }> {
  const version = ++priceListRuns;
  await sleep(300);
  if (upstreamDown) throw new Error('upstream is down');
  return { version, computedAt: Date.now() };
}

async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await call();
  return [value, Date.now() - started];
}

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('freshness');
  const cache = createCache({ redis: { url: redis.url }, namespace: redis.namespace, ttl: '1s', grace: '1m', refreshBackoff: '2s' });
  stop = async () => {
    await cache.close();
    await redis.stop();
  };
  let staleServes = 0;
  cache.on('stale', () => staleServes++);
  cache.on('refresh', (key) => console.log(`  event refresh: this process refreshes '${key}' in the background`));
  cache.on('refresh-failed', (error, key) => console.log(`  event refresh-failed: '${key}': ${(error as Error).message}; the stale value stays`));

  const [first, firstMs] = await timed(() => cache.getOrSet('prices', loadPriceList));
  console.log(`a miss waits for the function: version ${first.version} in ${firstMs} ms`);

  await sleep(1_100); // past the ttl, within grace
  const [stale, staleMs] = await timed(() => cache.getOrSet('prices', loadPriceList));
  console.log(`past its ttl: version ${stale.version} served at once (${staleMs} ms) while one caller refreshes it`);
  check(stale.version === 1 && staleMs < 300, 'a stale value is served without waiting for the function');

  await sleep(400);
  const [fresh] = await timed(() => cache.getOrSet('prices', loadPriceList));
  console.log(`after the refresh: version ${fresh.version}`);
  check(fresh.version === 2 && priceListRuns === 2, 'one refresh, and its value is served');

  upstreamDown = true;
  await sleep(1_100);
  const [served] = await timed(() => cache.getOrSet('prices', loadPriceList));
  await sleep(400); // the refresh fails meanwhile
  const runsAfterFailure = priceListRuns;
  for (let i = 0; i < 20; i++) await cache.getOrSet('prices', loadPriceList);
  console.log(`upstream down: callers keep getting version ${served.version}; ${priceListRuns - runsAfterFailure} retries during the 2 s backoff (${staleServes} stale serves so far)`);
  check(served.version === 2 && priceListRuns === runsAfterFailure, 'stale-if-error, and no retry before the backoff ends');

  upstreamDown = false;
  await sleep(2_000); // the backoff is over
  await cache.getOrSet('prices', loadPriceList);
  await sleep(400);
  const [recovered] = await timed(() => cache.getOrSet('prices', loadPriceList));
  console.log(`upstream back: version ${recovered.version}`);
  check(recovered.computedAt > fresh.computedAt, 'the refresh after the backoff stores a new value');

  // Early refresh alone (no grace): a key read back to back is refreshed shortly before it expires.
  const hot = createCache({ redis: { url: redis.url }, namespace: `${redis.namespace}-hot`, ttl: '1s' });
  let hotRuns = 0;
  let slowest = 0;
  const until = Date.now() + 3_500;
  await hot.getOrSet('hot', async () => (await sleep(100), ++hotRuns));
  while (Date.now() < until) {
    const [, ms] = await timed(() => hot.getOrSet('hot', async () => (await sleep(100), ++hotRuns)));
    slowest = Math.max(slowest, ms);
  }
  await hot.close();
  console.log(`early refresh, no grace: 3.5 s of back-to-back reads, ${hotRuns} runs, slowest read ${slowest} ms`);
  check(slowest < 100, 'no read waited for the 100 ms function');
}, () => stop());
