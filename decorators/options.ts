import { TAGGED, type Cache } from '../src/cache';
import { InvalidOptionError, located } from '../src/errors';
import { memberLabel, placement, type Invocation } from './mode';
import { checkFreshness, FRESHNESS, type FreshnessOptions } from '../src/options';
import { checkTags } from '../src/tags/check';

/** Turns a call's arguments into the part of the key after the name; the result is still namespaced and versioned. */
export type KeyFunction<A extends unknown[]> = (...args: A) => string;

/** Turns a call's arguments into the tags its entry carries (`this` is the instance for a method). */
export type TagsFunction<A extends unknown[]> = (...args: A) => readonly string[];

/**
 * Options shared by cached(fn) and @Cached. The freshness options (ttl, grace, earlyRefresh, softTimeout,
 * hardTimeout, refreshBackoff) go to the core with every call. `G` types a tags function's parameters; it
 * is `A` except for @Cached, which infers each function's parameters apart so a mistake names its option.
 */
export interface CacheableOptions<A extends unknown[], G extends unknown[] = A> extends FreshnessOptions {
  /** false: calls neither read nor fill the cache's memory tier. Default: the cache's. */
  l1?: boolean;
  /** The cache to use; default: @CacheConfig's, else the one given to setDefaultCache() (looked up at each call). */
  cache?: Cache;
  /** A custom key: a fixed string, or a function of the arguments. Default: the arguments, encoded by value. */
  key?: string | KeyFunction<A>;
  /** Part of every key: bump it when the result's shape or meaning changes, and old entries are never read again. */
  version?: string | number;
  /** A prefix inside the cache's namespace; default: @CacheConfig's namespace, else none. */
  namespace?: string;
  /**
   * Tags for each entry, so `cache.invalidateTags(['product:42'])` drops every entry that depends on
   * product 42 whatever its key: a fixed list (checked where it is written), or a function of the
   * arguments like `key` (checked at each call). Entries also carry a tag of their function's own, for
   * invalidateAll().
   */
  tags?: readonly string[] | TagsFunction<G>;
}

/** What cached() takes: the shared options, and the name in the key. `A` is the function's parameters. */
export interface CachedFunctionOptions<A extends unknown[]> extends CacheableOptions<A> {
  /** The name in the key; default: the function's name. Required for anonymous functions. */
  name?: string;
}

/**
 * What `@Cached` takes: the shared options, the name in the key, and a per-instance key part. `A` types
 * a key function's parameters, `This` the instance `instanceKey` takes.
 */
export interface CachedMethodOptions<A extends unknown[] = any[], This = any, G extends unknown[] = A> extends CacheableOptions<A, G> {
  /** The method name in the key; default: the method's name. Required for symbol-named methods. */
  name?: string;
  /** Makes the key per instance: its result (a tenant id, a region) is added to the key. Default: instances share entries. */
  instanceKey?: (self: This) => string | number;
}

/** Validated options, in the shape the call path uses. */
export interface Normalized {
  readonly cache?: Cache;
  readonly key?: (this: unknown, ...args: unknown[]) => unknown;
  readonly version?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly instanceKey?: (self: unknown) => unknown;
  /** A fixed list (checked, deduplicated, frozen), or a function whose result each call checks. */
  readonly tags?: readonly string[] | ((this: unknown, ...args: unknown[]) => unknown);
  /** What the core receives with each call; undefined uses the cache's defaults. */
  readonly call?: FreshnessOptions & { l1?: boolean };
}

// The core's freshness options; they pass through unchanged, checked here as the core will check them.
const CALL_OPTIONS = [...FRESHNESS, 'l1'] as const;
const COMMON = ['cache', 'key', 'version', 'namespace', 'tags', ...CALL_OPTIONS];
export const FUNCTION_OPTIONS = [...COMMON, 'name'];
export const METHOD_OPTIONS = [...COMMON, 'name', 'instanceKey'];

export { checkedAt, located } from '../src/errors';

/**
 * Checks a decorator's options when the decorator factory is called, and hands the result to the
 * decorator once it is applied; a mistake is thrown then, named after the member or class it was written
 * on (`@Cached on UserService.getUser: ...`). Both happen while the class is defined.
 */
export function checkedWhenApplied<T>(decorator: string, check: () => T): (invocation: Invocation) => T {
  let checked: { value: T } | undefined;
  let mistake: unknown;
  try {
    checked = { value: check() };
  } catch (error) {
    mistake = error;
  }
  return (invocation) => {
    if (!checked) throw located(mistake, `${decorator} on ${memberLabel(invocation) ?? placement(invocation)}`);
    return checked.value;
  };
}

/** Validates where the options are written, so a mistake fails at startup rather than at the first call. */
export function normalize(options: unknown, known: readonly string[]): Normalized {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', options, `an object with ${known.join(', ')}`);
  }
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) throw InvalidOptionError.unknown(name, known);
  }
  const o = options as Record<string, unknown>;
  const out: { -readonly [K in keyof Normalized]: Normalized[K] } = {};
  if (o.cache !== undefined) out.cache = checkCache(o.cache, 'cache');
  if (o.key !== undefined) out.key = keyOption(o.key);
  if (o.tags !== undefined) out.tags = tagsOption(o.tags);
  if (o.version !== undefined) out.version = label(o.version, 'version', true);
  if (o.namespace !== undefined) out.namespace = label(o.namespace, 'namespace', false);
  if (o.name !== undefined) out.name = label(o.name, 'name', false);
  if (o.instanceKey !== undefined) {
    if (typeof o.instanceKey !== 'function') throw new InvalidOptionError('instanceKey', o.instanceKey, 'a function of the instance returning a string or a number, e.g. (service) => service.tenantId');
    out.instanceKey = o.instanceKey as (self: unknown) => unknown;
  }
  const call: Record<string, unknown> = {};
  for (const name of CALL_OPTIONS) {
    if (o[name] !== undefined) call[name] = o[name];
  }
  checkFreshness(call);
  if (Object.keys(call).length > 0) out.call = Object.freeze(call) as FreshnessOptions & { l1?: boolean };
  return out;
}

export function checkCache(cache: unknown, option: string): Cache {
  const c = cache as Partial<Cache> | null;
  // TAGGED: the call path's entry (decorators/target.ts); a cache of another copy of herdless lacks this one's.
  if (c === null || typeof c !== 'object' || typeof c.getOrSet !== 'function' || typeof c.delete !== 'function' || typeof c.namespace !== 'string' || typeof c[TAGGED] !== 'function') {
    throw new InvalidOptionError(option, cache, 'a cache from createCache()');
  }
  return cache as Cache;
}

function keyOption(key: unknown): (...args: unknown[]) => unknown {
  if (typeof key === 'function') return key as (...args: unknown[]) => unknown;
  if (typeof key === 'string') return () => key;
  throw new InvalidOptionError('key', key, 'a string, or a function of the arguments returning a string, e.g. (id) => `user-${id}`');
}

/**
 * A tags option, as @Cached and @CacheEvict take it: a function is kept (its result is checked at each
 * call), a list is checked now, so a bad tag fails where it is written, and kept frozen.
 */
export function tagsOption(tags: unknown): readonly string[] | ((this: unknown, ...args: unknown[]) => unknown) {
  if (typeof tags === 'function') return tags as (this: unknown, ...args: unknown[]) => unknown;
  if (!Array.isArray(tags)) {
    throw new InvalidOptionError('tags', tags, "an array of tag strings, or a function of the arguments returning one, e.g. (id) => [`product:${id}`]");
  }
  return Object.freeze([...checkTags(tags, 'tags', false)]);
}

/**
 * What a tags function returns for one call, checked as a user's tags (herdless' own are refused); a bad
 * list is an InvalidOptionError located at `whose` (the function's owner, for the message).
 */
export function appliedTags(tags: (this: unknown, ...args: unknown[]) => unknown, self: unknown, args: unknown[], whose: string): readonly string[] {
  try {
    return checkTags(tags.apply(self, args), 'tags', false);
  } catch (error) {
    throw located(error, `${whose} returned an unusable list`);
  }
}

function label(value: unknown, option: string, numbers: boolean): string {
  if (typeof value === 'string' && value.length > 0) return value;
  if (numbers && typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new InvalidOptionError(option, value, numbers ? 'a non-empty string or a finite number' : 'a non-empty string');
}
