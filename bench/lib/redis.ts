import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../../support/embedded-redis';
import { onCleanup } from './cleanup';

export type AdminClient = ReturnType<typeof createClient>;

/** A throw-away Redis on a loopback port (never 6379), stopped at cleanup, plus an admin connection. */
export async function benchRedis(): Promise<{ redis: EmbeddedRedis; admin: AdminClient }> {
  const redis = await startRedis();
  const pid = redis.pid;
  onCleanup(
    () => redis.stop(),
    () => process.kill(pid, 'SIGKILL'),
  );
  const admin = createClient({ url: redis.url });
  await admin.connect();
  onCleanup(() => admin.quit());
  return { redis, admin };
}

/** Per-command call counts from INFO commandstats (commands run inside scripts included). */
export async function commandCounts(admin: AdminClient): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) counts.set(match[1], Number(match[2]));
  }
  return counts;
}

/** Commands run between two snapshots, leaving out the INFO calls that took the snapshots. */
export function commandsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, calls] of after) {
    const run = calls - (before.get(name) ?? 0) - (name === 'info' ? 1 : 0);
    if (run > 0) delta.set(name, run);
  }
  return delta;
}

export async function redisVersion(admin: AdminClient): Promise<string> {
  return /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
}
