/*
 * What tags cost a memory-tier hit, in one process: the CPU time of one hit, sequential calls on one
 * key, untagged against tags given per call. `npx ts-node --transpile-only bench/tag-cost.ts`
 * (starts its own Redis). The bench's tags phase measures throughput side by side; this isolates the
 * per-call cost of the tag list (building it, and herdless checking it).
 */
import { createCache } from '../src';
import { startRedis } from '../support/embedded-redis';

const ROUNDS = 5;
const HITS = 1_000_000;

async function main(): Promise<void> {
  const redis = await startRedis();
  const cache = createCache({ redis: { url: redis.url }, namespace: 'tag-cost', l1: true });
  const five = (i: number) => [`product:${i}`, 'catalog', `category:${i % 7}`, `brand:${i % 3}`, 'locale:en'];
  const fixed = Object.freeze(five(1));
  const variants: [string, () => Promise<unknown>][] = [
    ['untagged', () => cache.getOrSet('k', () => 1)],
    ['tags: []', () => cache.getOrSet('k', () => 1, { tags: [] })],
    ['5 tags, one frozen list', () => cache.getOrSet('k', () => 1, { tags: fixed })],
    ['5 tags, a new list per call', () => cache.getOrSet('k', () => 1, { tags: five(1) })],
  ];
  await cache.getOrSet('k', () => 1, { tags: fixed });
  await new Promise((resolve) => setTimeout(resolve, 200)); // the channel is trusted, the entry in memory
  const ns: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of variants) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < HITS; i++) await call();
      (ns[name] ??= []).push(Number(process.hrtime.bigint() - started) / HITS);
    }
  }
  for (const [name, times] of Object.entries(ns)) {
    const sorted = [...times].sort((a, b) => a - b);
    console.log(`${name.padEnd(28)} ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ns per hit (median of ${ROUNDS} rounds of ${HITS.toLocaleString('en-US')})`);
  }
  await cache.close();
  await redis.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
