import type { RedisClusterOptions } from 'redis';
import { leaseScripts, type LeaseScripts } from '../lease/scripts';
import type { Settings } from '../options';
import { bumpVersion, readVersion } from '../tags/scripts';
import { ClusterStore, type RedisCluster } from './cluster';
import { limitRepeats } from './error-limit';
import { StandaloneStore } from './standalone';
import type { Store } from './store';

/**
 * The store a cache's `redis` option names, with the scripts it runs. A cluster's wake-ups go by sharded
 * pub/sub (SPUBLISH: the message stays on the key's shard), a standalone server's by PUBLISH.
 */
export function openStore(settings: Settings, onError: (error: unknown) => void): { store: Store; scripts: LeaseScripts } {
  const { redis, redisKind: kind, commandTimeoutMs: timeoutMs } = settings;
  const cluster = kind === 'v4-cluster' || kind === 'cluster-options';
  const scripts = leaseScripts(cluster ? 'SPUBLISH' : 'PUBLISH');
  // A refused publish inside a script (store.ts, evalScript) would otherwise be reported at every write:
  // each distinct one reaches 'error' once per 5 s.
  const options = { timeoutMs, scripts: [...Object.values(scripts), readVersion, bumpVersion], onError, onRefused: limitRepeats(onError) };
  if (cluster) {
    return { scripts, store: new ClusterStore(kind === 'v4-cluster' ? (redis as RedisCluster) : (redis as { cluster: RedisClusterOptions }).cluster, options) };
  }
  return { scripts, store: new StandaloneStore(redis as ConstructorParameters<typeof StandaloneStore>[0], options, kind) };
}
