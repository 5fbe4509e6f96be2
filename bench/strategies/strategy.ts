/** What one cache under test offers the benchmark; every strategy, ours or a peer's, is driven through it. */
export interface CacheUnderTest {
  /** The cached value of `key`, or the factory's result stored for the cache's ttl. */
  getOrSet(key: string, factory: () => Promise<unknown>): Promise<unknown>;
  /** A plain GET of the Redis key where `key` is stored, on the same connection the cache uses. */
  rawGet(key: string): Promise<unknown>;
  /**
   * Writes `value` for `key` through the cache, as an application updating a record would (the coherence
   * phase's writer): herdless `cache.set`, bentocache `bento.set`, cache-manager `cache.set`. Only the
   * strategies of that phase have it.
   */
  set?(key: string, value: unknown): Promise<void>;
  /**
   * Calls `listener` with the tier of every hit, where the cache reports it (herdless's 'hit' event,
   * bentocache's 'cache:hit' with its layer), until the returned function is called. Only tiered caches
   * have it; the benchmark uses it to show how many hits were served from memory.
   */
  watchHits?(listener: (tier: 'memory' | 'redis') => void): () => void;
  /** Tagged entries and their invalidation (the tags phase); only strategies with a `tagSetup` have it. */
  tags?: TaggedCache;
  close(): Promise<void>;
}

/** A cache's tags, each as its docs show (herdless `getOrSet(key, fn, { tags })`, bentocache `getOrSet({ key, factory, tags })`). */
export interface TaggedCache {
  /**
   * getOrSet with `tags`; undefined passes no tags option at all (the untagged baseline), [] passes an
   * empty list. The caller builds the array per call, as an application would.
   */
  getOrSet(key: string, factory: () => Promise<unknown>, tags: string[] | undefined): Promise<unknown>;
  /** Writes `value` for `key` carrying `tags`, through the cache's own set. */
  set(key: string, value: unknown, tags: string[]): Promise<void>;
  /** Invalidates every entry carrying one of `tags`: herdless `invalidateTags`, bentocache `deleteByTag`. */
  invalidate(tags: string[]): Promise<void>;
  /** The fresh value of `key` without computing, or undefined (herdless `get`); used to check an invalidation took. */
  peek(key: string): Promise<unknown>;
}

export interface OpenOptions {
  url: string;
  /** The cluster's nodes, given to strategies that run against Redis Cluster. */
  rootNodes?: { url: string }[];
  /** Prefix for every key, so runs never see each other's data. */
  namespace: string;
  ttlMs: number;
  /**
   * Open in stale-while-revalidate mode (the expiry phase): a value past its ttl may still be served for
   * `graceMs` while it is refreshed, each cache as its docs show. Strategies without such a mode ignore it;
   * other phases leave it out, so they measure every cache as before.
   */
  freshness?: { graceMs: number };
}

export interface Strategy {
  /** Short name used on the command line, in JSON and in tables. */
  readonly name: string;
  /** How it is configured, for the report. */
  readonly setup: string;
  /** How it is configured when opened with `freshness` (the expiry phase); default `setup`. */
  readonly freshSetup?: string;
  /** npm packages whose versions the report records. */
  readonly packages: readonly string[];
  /**
   * 'cluster': runs against the run's Redis Cluster, in the herd phase only (the other phases compare
   * strategies on one standalone server). Default 'standalone'.
   */
  readonly topology?: 'standalone' | 'cluster';
  /**
   * Phases it runs in, when not every phase its topology allows (herdless-early: the expiry phase only).
   * The coherence phase runs only the strategies that name it here.
   */
  readonly phases?: readonly string[];
  /**
   * How its tags are used (the tags phase), for the report; strategies without it do not run there. Such
   * a strategy's opened cache has `tags`.
   */
  readonly tagSetup?: string;
  /** The ttl it is opened with in the expiry phase (and staleness is judged by), when not the phase's. */
  readonly expiryTtlMs?: number;
  open(options: OpenOptions): Promise<CacheUnderTest>;
}
