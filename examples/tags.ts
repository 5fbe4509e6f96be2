/*
 * Tags and clear(): "this product changed: drop every entry that used it", in every process, in one
 * write. Two caches with their own connections stand in for two processes. Run it:
 *   npx ts-node --transpile-only examples/tags.ts
 */
import { createCache } from '../src';
import { check, exampleRedis, runExample } from '../support/examples';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('tags');
  const options = { redis: { url: redis.url }, namespace: redis.namespace, ttl: '1h' } as const;
  const api = createCache(options); // the process that serves pages
  const admin = createCache(options); // the one where products are edited
  stop = async () => {
    await Promise.all([api.close(), admin.close()]);
    await redis.stop();
  };
  const queries = { product: 0, listing: 0, banner: 0 };
  const product = (id: number) => api.getOrSet(`product:${id}`, async () => ({ id, price: 10 * id, query: ++queries.product }), { tags: [`product:${id}`] });
  // A page listing products carries every product's tag, and the catalog's.
  const listing = (ids: number[]) => api.getOrSet(`listing:${ids.join(',')}`, async () => ({ ids, query: ++queries.listing }), { tags: [...ids.map((id) => `product:${id}`), 'catalog'] });
  const banner = () => api.getOrSet('banner', async () => ({ text: 'Sale', query: ++queries.banner }));

  await Promise.all([product(1), product(2), listing([1, 2]), listing([2, 3]), banner()]);
  await Promise.all([product(1), product(2), listing([1, 2]), listing([2, 3]), banner()]);
  console.log(`first pass, then all hits: ${JSON.stringify(queries)}`);
  check(queries.product === 2 && queries.listing === 2, 'a second pass is all hits');

  // Product 1 changes. One write and one message, however many entries carry the tag.
  await admin.invalidateTags(['product:1']);
  await sleep(10); // on loopback the message reaches the other process in about a millisecond
  await Promise.all([product(1), product(2), listing([1, 2]), listing([2, 3]), banner()]);
  console.log(`after invalidateTags(['product:1']) elsewhere: ${JSON.stringify(queries)}`);
  check(queries.product === 3 && queries.listing === 3 && queries.banner === 1, 'exactly the entries tagged product:1 are recomputed');

  // An invalidation while the function runs: the result reaches its caller, but is never served after.
  let release!: () => void;
  const slow = api.getOrSet('report', async () => {
    await new Promise<void>((resolve) => (release = resolve));
    return 'built from data read before the change';
  }, { tags: ['catalog'] });
  await sleep(20);
  await admin.invalidateTags(['catalog']);
  release();
  console.log(`the slow call itself: '${await slow}'`);
  const next = await admin.getOrSet('report', async () => 'built after the change', { tags: ['catalog'] });
  console.log(`the next call: '${next}'`);
  check(next === 'built after the change', 'an invalidation during a computation is not lost');

  // Drop everything of the namespace: also one write.
  await admin.clear();
  await sleep(10);
  await banner();
  console.log(`after clear(): banner queried ${queries.banner} times`);
  check(queries.banner === 2, 'clear() invalidates every entry of the namespace');
}, () => stop());
