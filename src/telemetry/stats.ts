/** A snapshot of a cache's counters since it was created: `cache.stats()`. Counts are of this process only. */
export interface CacheStats {
  /** The cache's namespace. */
  readonly namespace: string;
  /** Calls answered by a fresh value, by tier. */
  readonly hits: {
    /** From the memory tier (L1). */
    readonly memory: number;
    /** From Redis. */
    readonly redis: number;
  };
  /** Calls answered by a stale value (past its ttl, within grace). */
  readonly stale: number;
  /** Calls that found no usable value in Redis and entered the lease conversation (each then leads, waits or is answered without the cache). */
  readonly misses: number;
  /** Calls that joined a call for the same key already in flight in this process. */
  readonly joined: number;
  /** Misses whose call took the key's lease and ran the function. */
  readonly leads: number;
  /** Misses that waited for a computation elsewhere (or for a refresh, with softTimeout). */
  readonly waits: number;
  /** Waits whose holder died or lost its lease: the waiter took the lease over and ran the function. */
  readonly takeovers: number;
  /** Computations whose result was not stored: the lease was lost, or a tag was invalidated meanwhile. */
  readonly fenced: number;
  /** Background refreshes this process ran (it held the key's lease). */
  readonly refreshes: number;
  /** Refreshes whose function threw. */
  readonly refreshFailures: number;
  /** Calls answered by running the function without the cache, because Redis failed or could not be reached. */
  readonly uncached: number;
  /** Calls whose hardTimeout or wait.timeout ran out. */
  readonly timeouts: number;
  /** Reports on the 'error' event: Redis failures and unreadable stored values (each call was answered anyway). */
  readonly errors: number;
  /** The memory tier, when the cache has one. */
  readonly memory:
    | {
        /** Entries held now. */
        readonly entries: number;
        /** What they count against maxBytes now. */
        readonly bytes: number;
        /** Entries dropped to stay within maxEntries or maxBytes (not those an invalidation dropped). */
        readonly evictions: number;
      }
    | undefined;
}

/** The counters a cache keeps; increments only, so the hit path pays an add. */
export class Counters {
  memoryHits = 0;
  redisHits = 0;
  stale = 0;
  misses = 0;
  leads = 0;
  waits = 0;
  takeovers = 0;
  fenced = 0;
  refreshes = 0;
  refreshFailures = 0;
  uncached = 0;
  timeouts = 0;
  errors = 0;

  /** `joined`: counted by the flights themselves (singleflight.ts). */
  snapshot(namespace: string, joined: number, memory: CacheStats['memory']): CacheStats {
    return {
      namespace,
      hits: { memory: this.memoryHits, redis: this.redisHits },
      stale: this.stale,
      misses: this.misses,
      joined,
      leads: this.leads,
      waits: this.waits,
      takeovers: this.takeovers,
      fenced: this.fenced,
      refreshes: this.refreshes,
      refreshFailures: this.refreshFailures,
      uncached: this.uncached,
      timeouts: this.timeouts,
      errors: this.errors,
      memory,
    };
  }
}
