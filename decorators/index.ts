/**
 * Caches service methods and plain functions on top of a cache from `createCache()`: `@Cached` on a
 * method, `cached()` around a function, `@CacheEvict` on the methods that change data, `@CacheConfig`
 * for a class's defaults. The same decorators work with standard (TC39) decorators and with
 * `experimentalDecorators`.
 *
 * @example
 * ```ts
 * import { createCache } from 'herdless';
 * import { Cached, CacheConfig, CacheEvict, cached, setDefaultCache } from 'herdless/decorators';
 *
 * setDefaultCache(createCache({ redis: { url: process.env.REDIS_URL } }));
 *
 * @CacheConfig({ namespace: 'catalog', ttl: '10m' })
 * class ProductService {
 *   @Cached()
 *   async getProduct(id: string): Promise<Product> { ... }
 *
 *   @CacheEvict('getProduct', (id: string, patch: Partial<Product>) => [id])
 *   async update(id: string, patch: Partial<Product>): Promise<void> { ... }
 * }
 *
 * const rate = cached(async function exchangeRate(from: string, to: string) { ... }, { ttl: '30s' });
 * ```
 *
 * @module herdless/decorators
 */
// First: Symbol.metadata must exist before any class using these decorators is defined.
import './polyfill';

export { cached, type CachedFunction } from './cached';
export { Cached, type CachedMethodDecorator } from './cached-decorator';
export { CacheConfig, type CacheConfigDecorator } from './cache-config-decorator';
export { CacheEvict, type CacheEvictDecorator, type CacheEvictOptions, type EvictArgs } from './cache-evict-decorator';
export { setDefaultCache, getDefaultCache } from './default-cache';
export { invalidate, invalidateAll, peek, keyOf } from './invalidate';
export { getCachedMethods, type CachedMethodInfo, CACHED_METADATA_KEY, CACHED_METHODS_METADATA_KEY } from './method-registry';
export { CONFIG_METADATA_KEY, type CacheConfigOptions } from './class-config';
export type { CachedFunctionOptions, CachedMethodOptions, CacheableOptions, KeyFunction, TagsFunction } from './options';
export { encodeArgs, encodeValue } from './encode-args';
export { MAX_KEY_LENGTH, HASHED_KEY_LENGTH } from './key-format';
export { DecoratorUsageError, NoCacheError, UnkeyableArgumentError } from './errors';
