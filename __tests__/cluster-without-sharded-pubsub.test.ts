import { createCache, type Cache } from '../src';
import { startCluster, type LocalCluster } from '../support/redis-cluster';

// A cluster whose servers lack sharded pub/sub (as before Redis 7): waiters fall back to polling, and
// leaders still write (the scripts publish with pcall).

let cluster: LocalCluster;
const caches: Cache[] = [];

beforeAll(async () => {
  const without = ['SSUBSCRIBE', 'SUNSUBSCRIBE', 'SPUBLISH'].flatMap((command) => ['--rename-command', command, '']);
  cluster = await startCluster({ extraArgs: without });
}, 120_000);

afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()));
  await cluster?.stop();
});

test('one run, every waiter answered, values cached, no write refused', async () => {
  const errors: unknown[] = [];
  const make = () => {
    const created = createCache({ redis: { cluster: { rootNodes: cluster.rootNodes } }, namespace: 'legacy' });
    created.on('error', (error) => errors.push(error));
    caches.push(created);
    return created;
  };
  const [a, b, c] = [make(), make(), make()];
  let runs = 0;
  const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve(`run ${++runs}`), 300));
  const values = await Promise.all([a, b, c].map((cache) => cache.getOrSet('report', slow)));
  expect(values).toEqual(['run 1', 'run 1', 'run 1']);
  expect(runs).toBe(1);
  expect(await b.getOrSet('report', slow)).toBe('run 1');
  // The only complaints are about subscribing, which is what the fallback is for.
  expect(errors.every((error) => /SSUBSCRIBE|unknown command/i.test(String((error as Error)?.message)))).toBe(true);
});
