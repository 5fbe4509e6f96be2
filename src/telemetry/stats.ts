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

const OUTCOMES: readonly Outcome[] = ['hit', 'stale', 'lead', 'wait', 'takeover', 'fence', 'refresh', 'joined', 'uncached', 'timeout'];
const REFRESH_OUTCOMES: readonly RefreshOutcome[] = ['refreshed', 'failed', 'fence', 'elsewhere', 'backoff', 'newer', 'unavailable'];

const zeros = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

/** The counters a cache keeps; increments only, so a call pays an add. */
export class Counters {
  readonly calls = zeros(OUTCOMES);
  readonly refreshes = zeros(REFRESH_OUTCOMES);
  memoryHits = 0;
  redisHits = 0;
  memoryStale = 0;
  redisStale = 0;
  misses = 0;
  errors = 0;

  /** `joined`, and joiners answered after wait.timeout: counted by the flights themselves (singleflight.ts). */
  snapshot(namespace: string, joiners: { joined: number; late: number }, memory: CacheStats['memory']): CacheStats {
    return {
      namespace,
      calls: { ...this.calls, joined: joiners.joined, timeout: this.calls.timeout + joiners.late },
      hits: { memory: this.memoryHits, redis: this.redisHits },
      stale: { memory: this.memoryStale, redis: this.redisStale },
      misses: this.misses,
      refreshes: { ...this.refreshes },
      errors: this.errors,
      memory,
    };
  }
}
