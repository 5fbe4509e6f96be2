/**
 * Cache function results in Redis without a cache stampede: one computation per key across the fleet.
 *
 * @example
 * ```ts
 * import { createCache } from 'herdless';
 *
 * const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: 'myapp', ttl: '5m' });
 * const report = await cache.getOrSet('report:2026', () => buildReport());
 * ```
 * @module herdless
 */
export { Cache, createCache, type CacheEvents, type Factory } from './cache';
export type { CacheOptions, CallOptions, FreshnessOptions, MemoryOptions, RedisOption, SetOptions } from './options';
export type { ModernRedisClient, RedisClient } from './store/standalone';
export type { RedisCluster } from './store/cluster';
export { parseDuration, type Duration } from './duration';
export type { Codec } from './codec/codec';
export { v8Codec } from './codec/v8';
export { jsonCodec } from './codec/json';
export { HerdlessError, InvalidOptionError, WaitTimeoutError, TimeoutError, EncodeError, RedisUnavailableError, RedisRefusedError, MisalignedReplyError, ClosedError, LeaseHeldTooLongError } from './errors';
export type { CacheStats } from './telemetry/stats';
export { CHANNELS, type Outcome, type GetOrSetContext, type RefreshOutcome, type RefreshContext, type OperationContext, type ErrorMessage } from './telemetry/channels';
