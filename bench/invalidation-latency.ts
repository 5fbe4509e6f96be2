/**
 * How long after a write resolves in one process another process stops serving the older value from its
 * memory tier: `npx ts-node --transpile-only bench/invalidation-latency.ts [writes]`.
 *
 * This process writes a new version of one key every 20 ms with `set()` and records when each write
 * resolved; a reader process with `l1: true` reads the key back to back (one read per turn of its event
 * loop, so it never blocks its own socket) and reports when it first got each version. Both clocks are
 * the machine's (performance.timeOrigin + performance.now()). Starts its own Redis.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createCache } from '../src';
import { startRedis } from '../support/embedded-redis';
import { percentile, round } from './lib/stats';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function reader(url: string): Promise<void> {
  const cache = createCache({ redis: { url }, namespace: 'latency', l1: true });
  let last = -1;
  const tiers = { memory: 0, redis: 0 };
  cache.on('hit', (_key, tier) => tiers[tier]++);
  let stopping = false;
  process.on('message', (message: string) => {
    if (message === 'stop') stopping = true;
  });
  process.send!({ ready: true });
  while (!stopping) {
    const version = (await cache.getOrSet('k', () => -1)) as number;
    if (version !== last) {
      last = version;
      process.send!({ version, seenAt: now() });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  process.send!({ tiers });
  await cache.close();
  process.exit(0);
}

async function main(): Promise<void> {
  const writes = Number(process.argv[2] ?? 300);
  const redis = await startRedis();
  const writer = createCache({ redis: { url: redis.url }, namespace: 'latency' });
  await writer.set('k', 0);
  const child = fork(__filename, ['--reader', redis.url], { execArgv: process.execArgv });
  const seen = new Map<number, number>();
  let tiers: { memory: number; redis: number } | undefined;
  await new Promise<void>((resolve) => {
    child.on('message', (message: { ready?: boolean; version?: number; seenAt?: number; tiers?: typeof tiers }) => {
      if (message.ready) resolve();
      if (message.version !== undefined) seen.set(message.version, message.seenAt!);
      if (message.tiers) tiers = message.tiers;
    });
  });
  await sleep(500); // the reader's tier proves its subscription live
  const resolvedAt = new Map<number, number>();
  for (let version = 1; version <= writes; version++) {
    await writer.set('k', version);
    resolvedAt.set(version, now());
    await sleep(20);
  }
  await sleep(200);
  child.send('stop');
  await new Promise((resolve) => child.once('exit', resolve));
  const lags = [...resolvedAt].filter(([version]) => seen.has(version)).map(([version, at]) => seen.get(version)! - at);
  const ms = (p: number) => round(percentile(lags, p), 3);
  console.log(`${writes} writes; the reader saw ${lags.length} of them (a version overwritten before its next read is skipped)`);
  console.log(`the reader's reads: ${tiers?.memory ?? '?'} from memory, ${tiers?.redis ?? '?'} from Redis`);
  console.log(`from set() resolved to the other process serving the new value, ms: p50 ${ms(50)}, p99 ${ms(99)}, max ${ms(100)}`);
  await writer.close();
  await redis.stop();
}

if (process.argv[2] === '--reader') void reader(process.argv[3]);
else void main();
