export { Cache, createCache, type CacheEvents, type Factory } from './cache';
export type { CacheOptions, CallOptions, FreshnessOptions, SetOptions } from './options';
export { parseDuration, type Duration } from './duration';
export type { Codec } from './codec/codec';
export { v8Codec } from './codec/v8';
export { jsonCodec } from './codec/json';
export { HerdlessError, InvalidOptionError, WaitTimeoutError, TimeoutError, EncodeError, RedisUnavailableError, ClosedError, LeaseHeldTooLongError } from './errors';
export type { CacheStats } from './telemetry/stats';
export { CHANNELS, type Outcome, type GetOrSetContext, type RefreshOutcome, type RefreshContext, type OperationContext, type ErrorMessage } from './telemetry/channels';
