import type { Cache } from '../src/cache';
import { checkCache, checkedAt } from './options';

// Read at every call, not when a function is wrapped or a class defined: modules declare their
// cached functions before the application creates its cache at startup.
let fallback: Cache | undefined;

/**
 * The cache used by cached functions and methods that name none, directly or through `@CacheConfig`. `undefined` clears it.
 *
 * @throws An `InvalidOptionError` when `cache` is not a cache from `createCache()` (of this copy of herdless).
 *
 * @example
 * ```ts
 * // Once, at startup, before the first call of a cached method.
 * const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: 'api' });
 * setDefaultCache(cache);
 * ```
 */
export function setDefaultCache(cache: Cache | undefined): void {
  fallback = cache === undefined ? undefined : checkedAt('setDefaultCache()', () => checkCache(cache, 'cache'));
}

/** The cache setDefaultCache() set, or undefined. */
export function getDefaultCache(): Cache | undefined {
  return fallback;
}
