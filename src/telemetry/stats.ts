import type { Outcome, RefreshOutcome } from './channels';

/**
 * A snapshot of a cache's counters since it was created: `cache.stats()`. Counts are of this process only.
 * Each getOrSet call is counted once, by its outcome, when it settles; each background refresh attempt
 * likewise, by its own.
 */
export interface CacheStats {
  /** The cache's namespace. */
  readonly namespace: string;
  /** getOrSet calls by outcome (see {@link Outcome}): every settled call is in exactly one. */
  readonly calls: Readonly<Record<Outcome, number>>;
  /** Calls whose outcome was `hit`, by tier. */
  readonly hits: {
    /** From the memory tier (L1). */
    readonly memory: number;
    /** From Redis. */
    readonly redis: number;
  };
  /** Calls whose outcome was `stale`, by tier. */
  readonly stale: {
    /** From the memory tier, when Redis could not be reached. */
    readonly memory: number;
    /** From Redis. */
    readonly redis: number;
  };
  /** Calls that found no usable value and entered the lease conversation (forceFresh calls included); each then led, waited, took over, or was answered otherwise. */
  readonly misses: number;
  /** Background refresh attempts by outcome (see {@link RefreshOutcome}). */
  readonly refreshes: Readonly<Record<RefreshOutcome, number>>;
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

/**
 * The counters a cache keeps: plain fields of one shape, so V8 keeps them as fast properties and a hit
 * pays one add (a counter looked up by name in a record costs a memory hit measurably more).
 */
export class Counters {
  memoryHits = 0;
  redisHits = 0;
  memoryStale = 0;
  redisStale = 0;
  lead = 0;
  wait = 0;
  takeover = 0;
  fence = 0;
  refresh = 0;
  uncached = 0;
  timeout = 0;
  misses = 0;
  errors = 0;
  readonly refreshes: Record<RefreshOutcome, number> = { refreshed: 0, failed: 0, fence: 0, elsewhere: 0, backoff: 0, newer: 0, unavailable: 0 };

  /** A settled call's outcome; hits and stale serves by their tier. */
  count(outcome: Outcome, memory: boolean): void {
    switch (outcome) {
      case 'hit':
        if (memory) this.memoryHits++;
        else this.redisHits++;
        return;
      case 'stale':
        if (memory) this.memoryStale++;
        else this.redisStale++;
        return;
      case 'joined':
        return; // counted by the flights (singleflight.ts)
      default:
        this[outcome]++;
    }
  }

  /** `joined`, and joiners answered after wait.timeout: counted by the flights themselves (singleflight.ts). */
  snapshot(namespace: string, joiners: { joined: number; late: number }, memory: CacheStats['memory']): CacheStats {
    const calls: Record<Outcome, number> = {
      hit: this.memoryHits + this.redisHits,
      stale: this.memoryStale + this.redisStale,
      lead: this.lead,
      wait: this.wait,
      takeover: this.takeover,
      fence: this.fence,
      refresh: this.refresh,
      joined: joiners.joined,
      uncached: this.uncached,
      timeout: this.timeout + joiners.late,
    };
    return {
      namespace,
      calls,
      hits: { memory: this.memoryHits, redis: this.redisHits },
      stale: { memory: this.memoryStale, redis: this.redisStale },
      misses: this.misses,
      refreshes: { ...this.refreshes },
      errors: this.errors,
      memory,
    };
  }
}
