/*
 * The memory tier (L1): hot keys answered from memory, and a write in one process seen by the others.
 * Two caches with their own connections stand in for two processes. Run it:
 *   npx ts-node --transpile-only examples/memory-tier.ts
 */
import { createCache } from '../src';
import { check, exampleRedis, runExample } from '../support/examples';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('memory-tier');
  const options = { redis: { url: redis.url }, namespace: redis.namespace, ttl: '10m', l1: true } as const;
  const api = createCache(options); // the process that serves reads
  const admin = createCache(options); // the one that edits profiles
  stop = async () => {
    await Promise.all([api.close(), admin.close()]);
    await redis.stop();
  };
  const tiers = { memory: 0, redis: 0 };
  api.on('hit', (_key, tier) => tiers[tier]++);
  let loads = 0;
  const loadProfile = async (id: string) => ({ id, name: `user ${id}`, plan: 'free', loads: ++loads });

  await api.getOrSet('profile:1', () => loadProfile('1'));
  await sleep(50); // the tier trusts its subscription once its first echo came back
  for (let i = 0; i < 10_000; i++) await api.getOrSet('profile:1', () => loadProfile('1'));
  console.log(`10,000 reads of a hot key: ${tiers.memory} from memory, ${tiers.redis} from Redis, ${loads} load`);
  check(tiers.memory > 9_900 && loads === 1, 'a hot key is answered from memory');

  // A hit hands out one shared, deep-frozen value: a caller cannot change what the others get.
  const profile = await api.getOrSet('profile:1', () => loadProfile('1'));
  let refused = false;
  try {
    (profile as { plan: string }).plan = 'pro';
  } catch {
    refused = true;
  }
  console.log(`a caller that writes to its result: ${refused ? 'TypeError, the value is frozen' : 'allowed'}`);
  check(refused && profile.plan === 'free', 'values from the memory tier are frozen');

  // Another process writes: its script publishes the key's invalidation, and every memory tier drops it.
  await admin.set('profile:1', { id: '1', name: 'user 1', plan: 'pro', loads: 0 });
  await sleep(10); // on loopback the invalidation arrives in about a millisecond
  const after = await api.getOrSet('profile:1', () => loadProfile('1'));
  console.log(`after the other process's set(): plan '${after.plan}'`);
  check(after.plan === 'pro', "another process's write is seen at once, not after the ttl");
}, () => stop());
