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
