import { createClient } from 'redis';
import { createCache, type Cache } from '../src';
import { LEAD_OVER } from '../src/protocol';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';

/*
 * A call that finds bytes it cannot use (unreadable, or invalidated by a tag) asks to lead over them. If
 * another unusable value replaced them meanwhile (under a stream of invalidations, a commit can land just
 * after a tag's new version), it asks again over that one, up to LEAD_OVER values, and only then answers
 * uncached. The cache reaches Redis through a proxy adding 100 ms each way, so the test can replace the
 * value between the call's GET and its acquire, over a direct connection.
 */

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let proxy: FaultProxy;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: redis.port } });
  cache = createCache({ redis: { url: proxy.url }, namespace: 'over', commandTimeout: 2_000 });
  cache.on('error', () => undefined);
  await cache.get('connect');
  proxy.latency(100);
}, 30_000);

afterAll(async () => {
  proxy.heal();
  await cache?.close();
  await proxy?.stop();
  await admin?.quit();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('unreadable bytes replaced by other unreadable bytes between the GET and the acquire: the call leads over them and caches its value', async () => {
  await admin.set('over:{k}:v', 'unreadable 1');
  const before = cache.stats().calls;
  let runs = 0;
  const call = cache.getOrSet('k', () => `run ${++runs}`);
  // The GET reaches Redis after 100 ms and its reply comes back after 200; the acquire reaches Redis after 300.
  await sleep(150);
  await admin.set('over:{k}:v', 'unreadable 2');
  expect(await call).toBe('run 1');
  const after = cache.stats().calls;
  expect({ lead: after.lead - before.lead, uncached: after.uncached - before.uncached }).toEqual({ lead: 1, uncached: 0 });
  // Its value replaced the bytes: the next call is a hit.
  proxy.heal();
  expect(await cache.getOrSet('k', () => 'never')).toBe('run 1');
  proxy.latency(100);
});

test(`bytes replaced before every acquire: after ${LEAD_OVER} the call answers uncached instead of asking forever`, async () => {
  await admin.set('over:{j}:v', 'unreadable 0');
  const before = cache.stats().calls;
  let replacing = true;
  // A new unreadable value every 50 ms: each acquire (one every 200 ms) finds one it has not seen.
  const replacer = (async () => {
    for (let i = 1; replacing; i++) {
      await admin.set('over:{j}:v', `unreadable ${i}`);
      await sleep(50);
    }
  })();
  let runs = 0;
  const answer = await cache.getOrSet('j', () => `run ${++runs}`);
  replacing = false;
  await replacer;
  expect(answer).toBe('run 1');
  const after = cache.stats().calls;
  expect({ lead: after.lead - before.lead, uncached: after.uncached - before.uncached }).toEqual({ lead: 0, uncached: 1 });
  // The value left in Redis is the replacer's, not one herdless built.
  expect(await admin.get('over:{j}:v')).toMatch(/^unreadable \d+$/);
}, 30_000);
