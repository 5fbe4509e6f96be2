/** Events a cache emits: `cache.on('stale', (key) => ...)`. */
export interface CacheEvents {
  /** A value was found. */
  hit: [key: string, tier: 'memory' | 'redis'];
  /** No value was found; this call leads or waits. */
  miss: [key: string];
  /** This call holds the lease and runs the function. */
  lead: [key: string];
  /** Another caller holds the lease; this call waits for its result. */
  wait: [key: string];
  /** The lease this call waited on vanished without a value (its holder died); this call took it over. */
  takeover: [key: string];
  /** A stale value (past its ttl, within grace) was served. */
  stale: [key: string];
  /** This process started a background refresh: it holds the key's lease and runs the function. */
  refresh: [key: string];
  /** A refresh's function threw; the stale value is still served, and no refresh starts anywhere before refreshBackoff. */
  'refresh-failed': [error: unknown, key: string];
  /** A computed value was not written because this call no longer held the lease. */
  fence: [key: string];
  /** Something went wrong with Redis or a stored value; the call was answered anyway. */
  error: [error: unknown, key: string | undefined];
}


/** Emits a cache's events; the cache is one. */
export interface Emitter {
  emit<E extends keyof CacheEvents>(event: E, ...args: CacheEvents[E]): boolean;
}
