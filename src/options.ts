import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import type { Codec } from './codec/codec';
import { v8Codec } from './codec/v8';
import { EXPIRY_MAX_MS, toMs, type Duration } from './duration';
import { DEFAULT_ERROR_FIELDS, RESERVED_FIELDS } from './lease/failure';
import { InvalidOptionError } from './errors';
import type { Freshness } from './freshness/policy';
import type { MemorySettings } from './tier/memory';
import { checkNamespace } from './keys';
import { checkTags } from './tags/check';
import type { RedisCluster } from './store/cluster';
import { clientKind, type ClientKind } from './store/client-kind';
import type { ModernRedisClient, RedisClient } from './store/standalone';

/** Where the cache keeps its data: a connection herdless opens (and closes), or a client you own. */
export type RedisOption =
  | RedisClientOptions
  | RedisClient
  | ModernRedisClient
  | {
      /** node-redis v4 cluster options (`{ rootNodes: [{ url }] }`) for a cluster connection herdless opens and closes. */
      cluster: RedisClusterOptions;
    }
  | RedisCluster;

/** How fresh values must be; cache-wide in createCache, or per call. See the README's freshness section. */
export interface FreshnessOptions {
  /** How long a value is fresh. Default '5m'. */
  ttl?: Duration;
  /**
   * How long past its ttl a stale value may still be served: at once, while one caller in the whole fleet
   * refreshes it, and in place of an error when that refresh fails. Redis keeps entries ttl + grace.
   * Default: off (0).
   */
  grace?: Duration | false;
  /**
   * Probabilistic early refresh (XFetch): a hit close to its expiry returns the value and starts one
   * background refresh, so a hot key is refreshed before it expires. β: larger refreshes earlier; `true`
   * is 1; `false` or 0 turns it off. Never serves a value older than ttl. Default 1.
   */
  earlyRefresh?: number | boolean;
  /** With a stale value at hand, how long a caller waits for the refresh before it gets the stale value. Default 0 (at once). */
  softTimeout?: Duration;
  /**
   * The longest a caller without a stale value waits for a computation (its own or another instance's);
   * then it rejects with TimeoutError while the computation goes on and is stored. Default: off (false).
   */
  hardTimeout?: Duration | false;
  /** After a refresh fails, how long no caller in any process starts another (kept in Redis). Default '10s'. */
  refreshBackoff?: Duration;
}

/** The memory tier (L1): values kept in this process, dropped by every write anywhere in the fleet. */
export interface MemoryOptions {
  /** Most entries kept. Default 10,000. */
  maxEntries?: number;
  /**
   * Most bytes kept: a number or '64mb', '512kb'. Default '64mb'. An entry counts its stored bytes (twice
   * when its value is shared: the decoded objects take about as much again), its key and a small overhead.
   */
  maxBytes?: number | string;
  /**
   * How a hit hands out a value. 'frozen' (default): every hit of a key shares one deep-frozen value, so a
   * caller cannot change what others get (a write to it throws in strict mode); a value holding a Map,
   * Set, Date, typed array or RegExp cannot be frozen, and is copied for each hit instead. 'copy': every
   * hit decodes its own mutable copy, as a hit from Redis does, at the cost of a decode per hit.
   */
  values?: 'frozen' | 'copy';
}

/**
 * What createCache() takes: where Redis is, the key namespace, and the cache-wide defaults of every call
 * (the freshness options, which a call's own options override). Every option is optional; a misspelt or
 * misplaced one throws InvalidOptionError at createCache().
 *
 * @example
 * ```ts
 * const cache = createCache({
 *   redis: { url: process.env.REDIS_URL },
 *   namespace: 'myapp',
 *   ttl: '5m',
 *   grace: '1h',
 *   l1: { maxEntries: 50_000 },
 * });
 * ```
 */
export interface CacheOptions extends FreshnessOptions {
  /**
   * A memory tier in front of Redis, kept coherent across the fleet (see the README's L1 section): true for
   * its defaults, or its bounds and how values are shared. Default: off.
   */
  l1?: boolean | MemoryOptions;
  /**
   * node-redis v4 client options (`{ url }`) or `{ cluster: { rootNodes } }` for a connection herdless opens
   * and closes; or a client you own: a node-redis v4 client or cluster, or a node-redis v5/v6 client.
   * Default: a connection herdless opens with node-redis' defaults (localhost:6379).
   */
  redis?: RedisOption;
  /** Prefix of every key. Default 'herdless'. */
  namespace?: string;
  /** The lease one caller in the fleet holds while it computes a key, so every other caller waits instead of computing too. */
  lease?: {
    /** Lifetime of a lease; renewed every ttl/3 while the function runs. Default '10s'. */
    ttl?: Duration;
    /**
     * The longest a lease is held, renewals included. A function still running then is presumed hung: its
     * lease is released so a waiter can take over, and its late result is not cached. Default '1m'.
     */
    maxHold?: Duration;
  };
  /**
   * Fields of a thrown error, besides the default code, status, statusCode, errno, syscall and type, that
   * travel to waiters in other processes (JSON primitives only; objects are never written to Redis).
   */
  errorFields?: readonly string[];
  /** How a caller waits for a key another instance is computing. */
  wait?: {
    /** How long a caller waits for another instance's result. Default '30s'. */
    timeout?: Duration;
    /** After the timeout: compute without the cache (default) or throw WaitTimeoutError. */
    onTimeout?: 'compute' | 'throw';
  };
  /** How values become bytes. Default: V8 structured clone (see README). */
  codec?: Codec;
  /**
   * How long Redis may answer nothing before waiting calls are answered without the cache (a command that
   * takes over ten times this gives up regardless). Default '1s'.
   */
  commandTimeout?: Duration;
}

/** Per call: each freshness option overrides the cache's. */
export interface CallOptions extends FreshnessOptions {
  /** false: this call neither reads nor fills the memory tier. Default: the cache's. */
  l1?: boolean;
  /** Compute now and store, still once across the fleet: a computation of the key already running anywhere is waited for instead. */
  forceFresh?: boolean;
  /**
   * Tags the value is stored under: `invalidateTags([tag])` then invalidates it, in every process, with
   * every other entry carrying that tag. At most 64 non-empty strings of at most 256 characters.
   */
  tags?: readonly string[];
}

/** What set() takes: how long the value is fresh, how long it may then be served stale, and its tags. */
export type SetOptions = Pick<FreshnessOptions, 'ttl' | 'grace'> & {
  /** Tags the value is stored under, as in getOrSet's options: `invalidateTags([tag])` then invalidates it. */
  tags?: readonly string[];
};

export interface Settings {
  redis: RedisOption;
  redisKind: ClientKind;
  namespace: string;
  /** The cache-wide freshness; a call without options uses this very object. */
  freshness: Freshness;
  /** The memory tier's bounds, or undefined when there is none. */
  memory: MemorySettings | undefined;
  leaseTtlMs: number;
  maxHoldMs: number;
  errorFields: readonly string[];
  waitTimeoutMs: number;
  onTimeout: 'compute' | 'throw';
  codec: Codec;
  commandTimeoutMs: number;
}

export const FRESHNESS = ['ttl', 'grace', 'earlyRefresh', 'softTimeout', 'hardTimeout', 'refreshBackoff'] as const;
const CALL = [...FRESHNESS, 'forceFresh', 'l1', 'tags'];
const SET = ['ttl', 'grace', 'tags'];
const TOP_LEVEL = ['redis', 'namespace', ...FRESHNESS, 'l1', 'lease', 'wait', 'codec', 'commandTimeout', 'errorFields'];

const DEFAULTS: Freshness = { ttlMs: 300_000, graceMs: 0, beta: 1, softTimeoutMs: 0, hardTimeoutMs: 0, backoffMs: 10_000, forceFresh: false, l1: true, tags: undefined };

export function settings(options: CacheOptions = {}): Settings {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object');
  unknownKeys(options, TOP_LEVEL, '');
  const lease = section(options.lease, 'lease', ['ttl', 'maxHold']);
  const wait = section(options.wait, 'wait', ['timeout', 'onTimeout']);
  const onTimeout = wait.onTimeout ?? 'compute';
  if (onTimeout !== 'compute' && onTimeout !== 'throw') {
    throw new InvalidOptionError('wait.onTimeout', onTimeout, "'compute' or 'throw'");
  }
  const codec = options.codec ?? v8Codec;
  if (typeof codec?.encode !== 'function' || typeof codec.decode !== 'function' || typeof codec.name !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(codec.name)) {
    throw new InvalidOptionError('codec', codec, 'an object with encode(value): Buffer, decode(bytes) and a name of 1-255 printable ASCII characters');
  }
  const redis = options.redis ?? {};
  const redisKind = clientKind(redis);
  if (redisKind === 'cluster-options' && 'cluster' in redis && (redis.cluster === null || typeof redis.cluster !== 'object' || !Array.isArray((redis.cluster as RedisClusterOptions).rootNodes))) {
    throw new InvalidOptionError('redis.cluster', redis.cluster, "node-redis cluster options with rootNodes, such as { rootNodes: [{ url: 'redis://host:7000' }] }");
  }
  return {
    redis,
    redisKind,
    namespace: checkNamespace(options.namespace ?? 'herdless'),
    freshness: Object.freeze(freshness(options, DEFAULTS)),
    memory: memory(options.l1),
    leaseTtlMs: toMs(lease.ttl ?? '10s', 'lease.ttl'),
    maxHoldMs: toMs(lease.maxHold ?? '1m', 'lease.maxHold'),
    errorFields: errorFields(options.errorFields),
    waitTimeoutMs: toMs(wait.timeout ?? '30s', 'wait.timeout', { allowZero: true }),
    onTimeout,
    codec,
    commandTimeoutMs: toMs(options.commandTimeout ?? '1s', 'commandTimeout'),
  };
}

/**
 * The freshness of one call: the cache's own object when the call passes no options (the hit path then
 * allocates nothing), else the cache's with the call's overrides. Validated on every call, because that
 * is where the mistake is made.
 */
export function callFreshness(options: CallOptions | undefined, cache: Freshness): Freshness {
  if (options === undefined) return cache;
  callObject(options, CALL);
  // Only a missing forceFresh means "not given": null is a wrong type, refused as l1: null is (`??` took it for false).
  const forceFresh = options.forceFresh === undefined ? false : options.forceFresh;
  if (typeof forceFresh !== 'boolean') throw new InvalidOptionError('forceFresh', forceFresh, 'true or false (true: compute now and store, once across the fleet)');
  // Tags are checked by the call itself and travel apart from the policy (cache.ts).
  return { ...freshness(options, cache), forceFresh, l1: options.l1 === undefined ? cache.l1 : l1(options.l1) };
}

/** The call's options hold nothing but tags: its policy is the cache's. */
export function onlyTags(options: CallOptions): boolean {
  for (const name in options) if (name !== 'tags') return false;
  return true;
}

function tagsOf(tags: unknown): readonly string[] | undefined {
  return tags === undefined ? undefined : checkTags(tags);
}

/**
 * callFreshness for one cache, remembering the result for frozen options (the decorators freeze theirs),
 * which cannot change between calls: a decorated method's hit is not charged a parse per call.
 */
export class CallPolicies {
  private readonly frozen = new WeakMap<object, Freshness>();

  constructor(private readonly cache: Freshness) {}

  of(options: CallOptions | undefined): Freshness {
    if (options === undefined) return this.cache;
    const known = this.frozen.get(options);
    if (known) return known;
    const policy = callFreshness(options, this.cache);
    if (Object.isFrozen(options)) this.frozen.set(options, policy);
    return policy;
  }
}

/** The options of set(): ttl and grace only. */
export function setFreshness(options: SetOptions | undefined, cache: Freshness): Freshness {
  if (options === undefined) return cache;
  callObject(options, SET);
  return { ...freshness(options, cache), tags: tagsOf(options.tags) };
}

/** Checks freshness options (and l1) written where they are not used yet (a decorator's), as a call would. */
export function checkFreshness(options: FreshnessOptions & { l1?: unknown }): void {
  freshness(options, DEFAULTS);
  if (options.l1 !== undefined) l1(options.l1);
}

function callObject(options: object, known: string[]): void {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, "an object such as { ttl: '1m' }");
  unknownKeys(options, known, '');
}

function freshness(o: FreshnessOptions, base: Freshness): Freshness {
  return {
    ttlMs: o.ttl === undefined ? base.ttlMs : toMs(o.ttl, 'ttl', { max: EXPIRY_MAX_MS }),
    graceMs: o.grace === undefined ? base.graceMs : o.grace === false ? 0 : toMs(o.grace, 'grace', { allowZero: true, max: EXPIRY_MAX_MS }),
    beta: o.earlyRefresh === undefined ? base.beta : beta(o.earlyRefresh),
    softTimeoutMs: o.softTimeout === undefined ? base.softTimeoutMs : toMs(o.softTimeout, 'softTimeout', { allowZero: true }),
    hardTimeoutMs: o.hardTimeout === undefined ? base.hardTimeoutMs : o.hardTimeout === false ? 0 : toMs(o.hardTimeout, 'hardTimeout'),
    backoffMs: o.refreshBackoff === undefined ? base.backoffMs : toMs(o.refreshBackoff, 'refreshBackoff', { allowZero: true, max: EXPIRY_MAX_MS }),
    forceFresh: false,
    l1: base.l1,
    tags: undefined,
  };
}

function l1(value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError('l1', value, 'true or false (false: the call bypasses the memory tier)');
  return value;
}

const SIZE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i;
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function memory(option: unknown): MemorySettings | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (option === null || typeof option !== 'object')) {
    throw new InvalidOptionError('l1', option, 'true, false, or an object with maxEntries, maxBytes, values');
  }
  const o = section(option === true ? {} : (option as MemoryOptions), 'l1', ['maxEntries', 'maxBytes', 'values']);
  const maxEntries = o.maxEntries ?? 10_000;
  if (typeof maxEntries !== 'number' || !Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new InvalidOptionError('l1.maxEntries', maxEntries, 'a whole number of 1 or more');
  }
  const values = o.values ?? 'frozen';
  if (values !== 'frozen' && values !== 'copy') throw new InvalidOptionError('l1.values', values, "'frozen' (one shared deep-frozen value) or 'copy' (each hit decodes its own)");
  return { maxEntries, maxBytes: bytes(o.maxBytes ?? '64mb'), values };
}

function bytes(value: unknown): number {
  const expected = "a number of bytes (1 or more), or a size such as '512kb', '64mb', '1gb'";
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && SIZE.test(value)) {
    const [, amount, unit] = SIZE.exec(value)!;
    n = Number(amount) * SIZE_UNITS[unit.toLowerCase()];
  } else throw new InvalidOptionError('l1.maxBytes', value, expected);
  if (!Number.isFinite(n) || n < 1) throw new InvalidOptionError('l1.maxBytes', value, expected);
  return Math.floor(n);
}

function beta(value: unknown): number {
  if (value === true) return 1;
  if (value === false) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError('earlyRefresh', value, 'a number of 0 or more (β: 1 is the default, larger refreshes earlier), true (1) or false (off)');
  }
  return value;
}

function errorFields(extra: unknown): readonly string[] {
  if (extra === undefined) return DEFAULT_ERROR_FIELDS;
  const expected = `an array of field names other than ${[...RESERVED_FIELDS].join(', ')}, such as ['requestId']`;
  if (!Array.isArray(extra)) throw new InvalidOptionError('errorFields', extra, expected);
  for (const name of extra) {
    if (typeof name !== 'string' || name === '' || RESERVED_FIELDS.has(name)) throw new InvalidOptionError('errorFields', extra, expected);
  }
  return [...new Set([...DEFAULT_ERROR_FIELDS, ...extra])];
}

function section<T extends object>(value: T | undefined, name: string, known: string[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(name, value, `an object with ${known.join(', ')}`);
  unknownKeys(value, known, `${name}.`);
  return value;
}

function unknownKeys(value: object, known: string[], prefix: string): void {
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      throw InvalidOptionError.unknown(prefix + name, known.map((k) => prefix + k));
    }
  }
}
