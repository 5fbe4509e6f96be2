import type { Cache } from '../src/cache';
import { FRESHNESS, type FreshnessOptions } from '../src/options';
import { defineOwnMetadata } from './metadata-store';

/**
 * What `@CacheConfig` takes. The freshness options (ttl, grace, earlyRefresh, ...) are defaults for the
 * class's cached methods, below each method's own.
 */
export interface CacheConfigOptions extends FreshnessOptions {
  /** The cache for the class's cached methods that name none. */
  cache?: Cache;
  /** A prefix inside the cache's namespace for the class's keys. */
  namespace?: string;
  /** The class name in keys; default: the class's name. Set it when a bundler renames classes. Not inherited. */
  name?: string;
}

/** Reflect metadata key under which `@CacheConfig` records its options on the class (legacy mode). */
export const CONFIG_METADATA_KEY = 'herdless:config';

// Keyed by the class in both decorator modes: a class decorator receives the class itself in both.
const configs = new WeakMap<Function, CacheConfigOptions>();

export function setClassConfig(ctor: Function, config: CacheConfigOptions): void {
  configs.set(ctor, config);
  defineOwnMetadata(CONFIG_METADATA_KEY, config, ctor);
}

/**
 * The configuration that applies to methods declared by `ctor`: each field from the nearest class up
 * the chain that sets it, except `name`, which only names the class it is written on.
 */
export function classConfig(ctor: Function): CacheConfigOptions {
  const merged: CacheConfigOptions = {};
  const own = configs.get(ctor);
  if (own?.name !== undefined) merged.name = own.name;
  for (let c: unknown = ctor; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const config = configs.get(c);
    if (!config) continue;
    merged.cache ??= config.cache;
    merged.namespace ??= config.namespace;
    for (const name of FRESHNESS) (merged as Record<string, unknown>)[name] ??= config[name];
  }
  return merged;
}

/** The freshness options a class's configuration sets, or undefined when it sets none. */
export function classFreshness(config: CacheConfigOptions): FreshnessOptions | undefined {
  let out: Record<string, unknown> | undefined;
  for (const name of FRESHNESS) {
    if (config[name] !== undefined) (out ??= {})[name] = config[name];
  }
  return out as FreshnessOptions | undefined;
}
