import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../../support/embedded-redis';
import { onCleanup } from './cleanup';

export type AdminClient = ReturnType<typeof createClient>;

/**
 * The Redis a strategy runs against, as the phases see it: where to connect, how to empty it between
 * measurements and how many commands it has run (INFO commandstats, summed over every master).
 */
export interface RedisTarget {
  readonly kind: 'standalone' | 'cluster';
  /** The server's URL (for a cluster, its first node). */
  readonly url: string;
  /** A cluster's nodes, for strategies that connect to a cluster. */
  readonly rootNodes?: { url: string }[];
  flushAll(): Promise<void>;
  commandCounts(): Promise<Map<string, number>>;
  /** Commands run between two snapshots of commandCounts, the snapshots' own INFO calls left out. */
  commandsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number>;
}

export function standaloneTarget(url: string, admin: AdminClient): RedisTarget {
  return {
    kind: 'standalone',
    url,
    flushAll: () => admin.flushAll().then(() => undefined),
    commandCounts: () => commandCounts(admin),
    commandsBetween: (before, after) => commandsBetween(before, after),
  };
}

/** A throw-away Redis on a loopback port (never 6379), stopped at cleanup, plus an admin connection. */
export async function benchRedis(): Promise<{ redis: EmbeddedRedis; admin: AdminClient }> {
  const redis = await startRedis();
  const pid = redis.pid;
  onCleanup(
    () => redis.stop(),
    () => process.kill(pid, 'SIGKILL'),
  );
  const admin = createClient({ url: redis.url });
  // Failures reach the benchmark as rejected commands; the event would only repeat them (and, during an
  // interrupt that stopped the server first, crash the cleanup).
  admin.on('error', () => undefined);
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

/**
 * Commands run between two snapshots, leaving out the INFO calls that took the snapshots (one per server
 * asked) and any command named in `ignore`.
 */
export function commandsBetween(before: Map<string, number>, after: Map<string, number>, servers = 1, ignore: readonly string[] = []): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, calls] of after) {
    if (ignore.includes(name)) continue;
    const run = calls - (before.get(name) ?? 0) - (name === 'info' ? servers : 0);
    if (run > 0) delta.set(name, run);
  }
  return delta;
}

export async function redisVersion(admin: AdminClient): Promise<string> {
  return /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
}
