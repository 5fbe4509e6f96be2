import { TAGGED, type Cache } from '../src/cache';
import { InvalidOptionError } from '../src/errors';
import { KeyLayout } from '../src/keys';
import type { CallOptions } from '../src/options';
import { encodeArgs } from './encode-args';
import { formatKey, headTag } from './key-format';
import { appliedTags, type Normalized } from './options';

/**
 * What a cached function or method needs to build its key and reach its cache. `self` is the `this` of
 * the call (the instance for a method); the head is fixed per function except for the instance part.
 */
export interface Target {
  readonly options: Normalized;
  /** 'UserService.getUser' or 'fetchUser', for messages. */
  label(self?: unknown): string;
  /** The escaped head of the key: namespace, name, version, instance. */
  head(self: unknown): string;
  /** The function's own tag (key-format.ts, headTag): the same for every instance and argument list. */
  ownTag(self?: unknown): string;
  /** Its own tag and a fixed `tags` option, frozen and built once: what a call without a tags function passes. */
  tags(self?: unknown): readonly string[];
  /** The cache in effect now; throws NoCacheError. */
  cache(self?: unknown): Cache;
  callOptions(self?: unknown): CallOptions | undefined;
}

// A cached function or decorated method -> its target. Lets invalidate(), @CacheEvict and tools go from
// the function a user holds to its key.
const targets = new WeakMap<Function, Target>();

export function link(fn: Function, target: Target): void {
  targets.set(fn, target);
}

export function targetOf(fn: unknown): Target | undefined {
  return typeof fn === 'function' ? targets.get(fn) : undefined;
}

/** The key passed to the core. Throws UnkeyableArgumentError, or InvalidOptionError for a bad custom key. */
export function cacheKey(target: Target, self: unknown, args: unknown[]): string {
  const head = target.head(self);
  const custom = target.options.key;
  if (custom === undefined) return formatKey(head, { args: encodeArgs(args, target.label(self)) });
  const text = custom.apply(self, args);
  if (typeof text !== 'string') {
    throw new InvalidOptionError('key', text, 'a string', `herdless: the key function of ${target.label(self)} returned ${typeof text === 'object' ? 'an object' : String(text)}; it must return a string`);
  }
  return formatKey(head, { custom: text });
}

/** The Redis key of the value, as redis-cli would show it. */
export function redisKey(target: Target, self: unknown, args: unknown[]): string {
  return new KeyLayout(target.cache(self).namespace).value(cacheKey(target, self, args));
}

/** What Target.tags() returns for a head without its instance part and the checked options. */
export function fixedTags(head: string, options: Normalized): readonly string[] {
  const own = headTag(head);
  return Object.freeze(Array.isArray(options.tags) ? [own, ...options.tags] : [own]);
}

/**
 * The tags of one call: the target's fixed ones, plus what a tags function returns for these arguments,
 * checked here as user tags (the core takes this list with herdless' own tags allowed).
 */
export function callTags(target: Target, self: unknown, args: unknown[]): readonly string[] {
  const fixed = target.tags(self);
  const tags = target.options.tags;
  if (typeof tags !== 'function') return fixed;
  const checked = appliedTags(tags, self, args, `the tags function of ${target.label(self)}`);
  return checked.length === 0 ? fixed : [...fixed, ...checked];
}

/** One call: the cached value, or `compute` run once across the fleet. Failures reject, never throw. */
export function callCached(target: Target, self: unknown, args: unknown[], compute: () => unknown): Promise<unknown> {
  try {
    const cache = target.cache(self);
    return cache[TAGGED](cacheKey(target, self, args), compute, target.callOptions(self), callTags(target, self, args));
  } catch (error) {
    return Promise.reject(error);
  }
}

export async function evictCached(target: Target, self: unknown, args: unknown[]): Promise<boolean> {
  return target.cache(self).delete(cacheKey(target, self, args));
}

export async function peekCached(target: Target, self: unknown, args: unknown[]): Promise<unknown> {
  return target.cache(self).get(cacheKey(target, self, args));
}
