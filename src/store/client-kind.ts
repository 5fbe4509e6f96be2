import { InvalidOptionError } from '../errors';

/**
 * What the `redis` option holds. node-redis v4 and v5/v6 clients look alike (both have sendCommand and
 * duplicate) but speak different APIs: v5 and later map reply types with `withTypeMapping` and dropped
 * v4's `executeIsolated`. A client herdless cannot drive is refused where it is passed, never left to fail
 * every call at run time.
 */
export type ClientKind = 'options' | 'cluster-options' | 'v4-client' | 'v4-cluster' | 'v5-client';

const SUPPORTED =
  "node-redis client options such as { url: 'redis://host:6379' }, { cluster: { rootNodes: [...] } }, a node-redis v4 " +
  'client or cluster (redis@4), or a node-redis v5/v6 client (redis@5, redis@6; not a cluster)';

export function clientKind(redis: unknown): ClientKind {
  if (redis === null || typeof redis !== 'object') throw new InvalidOptionError('redis', redis, SUPPORTED);
  const r = redis as Record<string, unknown>;
  const looksLikeClient = typeof r.sendCommand === 'function' || typeof r.duplicate === 'function' || typeof r.connect === 'function';
  if (!looksLikeClient) return 'cluster' in r ? 'cluster-options' : 'options';
  const modern = typeof r.withTypeMapping === 'function';
  const cluster = typeof r.getSlotMaster === 'function';
  if (modern && cluster) {
    throw new InvalidOptionError('redis', redis, SUPPORTED, `herdless: option 'redis' got a node-redis v5/v6 cluster, which herdless does not drive yet; pass a node-redis v4 cluster (createCluster from redis@4), or { cluster: { rootNodes } } and herdless opens one`);
  }
  if (modern && typeof r.duplicate === 'function' && typeof r.sendCommand === 'function') return 'v5-client';
  if (cluster && typeof r.sSubscribe === 'function') return 'v4-cluster';
  if (typeof r.executeIsolated === 'function' && typeof r.duplicate === 'function') return 'v4-client';
  throw new InvalidOptionError('redis', redis, SUPPORTED, `herdless: option 'redis' must be ${SUPPORTED}; got a client herdless does not know (ioredis, a client pool, another library?)`);
}
