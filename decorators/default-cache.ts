import type { Cache } from '../src/cache';
import { checkCache, checkedAt } from './options';

// Read at every call, not when a function is wrapped or a class defined: modules declare their
// cached functions before the application creates its cache at startup.
let fallback: Cache | undefined;

/** The cache used by cached functions and methods that name none, directly or through @CacheConfig. `undefined` clears it. */
export function setDefaultCache(cache: Cache | undefined): void {
  fallback = cache === undefined ? undefined : checkedAt('setDefaultCache()', () => checkCache(cache, 'cache'));
}

export function getDefaultCache(): Cache | undefined {
  return fallback;
}
