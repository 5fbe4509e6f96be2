import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import type { Codec } from './codec/codec';
import { v8Codec } from './codec/v8';
import { EXPIRY_MAX_MS, toMs, type Duration } from './duration';
import { DEFAULT_ERROR_FIELDS, RESERVED_FIELDS } from './lease/failure';
import { InvalidOptionError } from './errors';
import { checkNamespace } from './keys';
import type { RedisCluster } from './store/cluster';
import { clientKind, type ClientKind } from './store/client-kind';
import type { ModernRedisClient, RedisClient } from './store/standalone';

/** Where the cache keeps its data: a connection herdless opens (and closes), or a client you own. */
export type RedisOption = RedisClientOptions | RedisClient | ModernRedisClient | { cluster: RedisClusterOptions } | RedisCluster;

export interface CacheOptions {
  /**
   * node-redis v4 client options (`{ url }`) or `{ cluster: { rootNodes } }` for a connection herdless opens
   * and closes; or a client you own: a node-redis v4 client or cluster, or a node-redis v5/v6 client.
   */
  redis?: RedisOption;
  /** Prefix of every key. Default 'herdless'. */
  namespace?: string;
  /** How long values live. Default '5m'. */
  ttl?: Duration;
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

export interface CallOptions {
  /** How long this value lives; default: the cache's ttl. */
  ttl?: Duration;
}

export interface Settings {
  redis: RedisOption;
  redisKind: ClientKind;
  namespace: string;
  ttlMs: number;
  leaseTtlMs: number;
  maxHoldMs: number;
  errorFields: readonly string[];
  waitTimeoutMs: number;
  onTimeout: 'compute' | 'throw';
  codec: Codec;
  commandTimeoutMs: number;
}

const TOP_LEVEL = ['redis', 'namespace', 'ttl', 'lease', 'wait', 'codec', 'commandTimeout', 'errorFields'];

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
    ttlMs: toMs(options.ttl ?? '5m', 'ttl', { max: EXPIRY_MAX_MS }),
    leaseTtlMs: toMs(lease.ttl ?? '10s', 'lease.ttl'),
    maxHoldMs: toMs(lease.maxHold ?? '1m', 'lease.maxHold'),
    errorFields: errorFields(options.errorFields),
    waitTimeoutMs: toMs(wait.timeout ?? '30s', 'wait.timeout', { allowZero: true }),
    onTimeout,
    codec,
    commandTimeoutMs: toMs(options.commandTimeout ?? '1s', 'commandTimeout'),
  };
}

/** The TTL of one call; validated on every call because it is where the mistake is made. */
export function callTtl(options: CallOptions | undefined, fallback: number): number {
  if (options === undefined) return fallback;
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', options, 'an object such as { ttl: "1m" }');
  unknownKeys(options, ['ttl'], '');
  return options.ttl === undefined ? fallback : toMs(options.ttl, 'ttl', { max: EXPIRY_MAX_MS });
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
