/*
 * A service class with cached methods, compiled with standard (TC39) decorators: TypeScript 5 without
 * experimentalDecorators. Run it:
 *   npx ts-node --transpile-only examples/service.standard.ts
 * service.legacy.ts is the same service with legacy decorators: same import, same keys, so an app can
 * move from one mode to the other without a cold cache.
 */
import { createCache } from '../src';
import { Cached, CacheConfig, getCachedMethods, keyOf, setDefaultCache } from '../decorators';
import { check, exampleRedis, runExample } from '../support/examples';

interface Product {
  id: string;
  name: string;
  price: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const table: Product[] = [
  { id: 'p1', name: 'Desk lamp', price: 39 },
  { id: 'p2', name: 'Floor lamp', price: 129 },
  { id: 'p3', name: 'Desk', price: 249 },
];

@CacheConfig({ namespace: 'catalog', ttl: '10m' })
class ProductService {
  queries = 0;

  @Cached()
  async getProduct(id: string): Promise<Product | undefined> {
    this.queries++;
    await sleep(100); // a slow database
    return table.find((p) => p.id === id);
  }

  @Cached('1m')
  async search(query: { text: string; limit?: number }): Promise<Product[]> {
    this.queries++;
    await sleep(100);
    return table.filter((p) => p.name.toLowerCase().includes(query.text)).slice(0, query.limit);
  }
}

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('service-standard');
  const cache = createCache({ redis: { url: redis.url }, namespace: redis.namespace });
  stop = async () => {
    await cache.close();
    await redis.stop();
  };
  // At startup, once: the cache every decorated method uses unless it names another.
  setDefaultCache(cache);
  const products = new ProductService();

  const lamps = await Promise.all(Array.from({ length: 100 }, () => products.getProduct('p1')));
  console.log(`100 concurrent calls of getProduct('p1') -> ${lamps[0]?.name}`);
  console.log(`  database queries: ${products.queries}: computed once, served 99 times from the cache`);
  check(products.queries === 1 && lamps.every((p) => p?.name === 'Desk lamp'), 'one query for 100 callers');

  await products.search({ text: 'lamp', limit: 5 });
  const again = await products.search({ limit: 5, text: 'lamp' });
  console.log(`\nsearch({ text, limit }) then search({ limit, text }) -> ${again.map((p) => p.name).join(', ')}`);
  console.log(`  database queries: ${products.queries}: arguments are keyed by value, property order does not matter`);
  check(products.queries === 2, 'the second search came from the cache');

  const other = new ProductService();
  await other.getProduct('p1');
  console.log(`\nanother instance asks for 'p1': its queries: ${other.queries} (instances share entries; the key names the class, not the object)`);
  check(other.queries === 0, 'a second instance reads the same entry');

  console.log(`\nthe Redis key: ${keyOf(products.getProduct, 'p1')}`);
  console.log(`getCachedMethods(ProductService): ${getCachedMethods(ProductService).map((m) => `${String(m.method)} (ttl ${m.options.ttl ?? 'from @CacheConfig'})`).join(', ')}`);
}, () => stop());
