import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { startCluster } from '../../support/redis-cluster';
import { onCleanup } from './cleanup';
import { commandCounts, commandsBetween, type AdminClient, type RedisTarget } from './redis';

/*
 * Replicas acknowledge the replication stream to their master (REPLCONF ACK) about once a second, whatever
 * the clients do; those acknowledgements are the cluster's housekeeping, not a strategy's commands.
 */
const HOUSEKEEPING = ['replconf'];

/**
 * A throw-away Redis Cluster on loopback (3 masters + 3 replicas from the system redis-server, see
 * support/redis-cluster.ts), stopped at cleanup, with an admin connection to every master. Commands are
 * counted and data flushed on the masters, where every command of a strategy runs.
 */
export async function benchCluster(): Promise<RedisTarget> {
  // startCluster makes its nodes' folder under os.tmpdir() before its first await, and removes it only if
  // it gets to stop(). Pointing TMPDIR at a folder of this run for that moment puts the nodes' folder inside
  // one this run removes at cleanup, or at exit if it is interrupted while the cluster is still forming.
  const own = mkdtempSync(join(tmpdir(), 'herdless-bench-'));
  const removeOwn = () => rmSync(own, { recursive: true, force: true });
  onCleanup(removeOwn, removeOwn);
  const tmp = process.env.TMPDIR;
  process.env.TMPDIR = own;
  let starting: ReturnType<typeof startCluster>;
  try {
    starting = startCluster();
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  }
  const cluster = await starting;
  const pids = cluster.nodes.map((node) => node.process.pid).filter((pid): pid is number => pid !== undefined);
  onCleanup(
    () => cluster.stop(),
    () => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  );
  const admins: AdminClient[] = [];
  for (const port of await cluster.masters()) {
    const admin = createClient({ url: `redis://127.0.0.1:${port}` });
    // Failures reach the benchmark as rejected commands; the event would only repeat them (and, during an
    // interrupt that stopped the nodes first, crash the cleanup).
    admin.on('error', () => undefined);
    await admin.connect();
    onCleanup(() => admin.quit());
    admins.push(admin);
  }
  return {
    kind: 'cluster',
    url: cluster.rootNodes[0].url,
    rootNodes: cluster.rootNodes,
    async flushAll() {
      await Promise.all(admins.map((admin) => admin.flushAll()));
    },
    async commandCounts() {
      const total = new Map<string, number>();
      for (const counts of await Promise.all(admins.map(commandCounts))) {
        for (const [name, calls] of counts) total.set(name, (total.get(name) ?? 0) + calls);
      }
      return total;
    },
    commandsBetween: (before, after) => commandsBetween(before, after, admins.length, HOUSEKEEPING),
  };
}
