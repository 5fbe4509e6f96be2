import type { Cache } from '../src/cache';
import { InvalidOptionError } from '../src/errors';
import type { CallOptions } from '../src/options';
import { getDefaultCache } from './default-cache';
import { NoCacheError } from './errors';
import { formatHead } from './key-format';
import { checkedAt, FUNCTION_OPTIONS, located, normalize, type CachedFunctionOptions, type Normalized } from './options';
import { callCached, evictCached, fixedTags, link, peekCached, redisKey, type Target } from './target';

/** A cached function: same parameters, always a promise, plus helpers that use the key a call would use. */
export interface CachedFunction<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>;
  /** The Redis key of the value for these arguments. */
  key(...args: A): string;
  /** Removes the value for these arguments (and voids a computation in flight); true if one was removed. */
  invalidate(...args: A): Promise<boolean>;
  /** The cached value for these arguments, or undefined; never runs the function. */
  peek(...args: A): Promise<Awaited<R> | undefined>;
}

// The function's type is inferred from `fn` alone: the options' key function is typed by fn's parameters
// and never widens them, so a key that does not fit is reported at the key, and a mistake in the options
// at that option. (A function expression is typed after the other arguments; until then `fn` is taken as
// any function, so a mistake in the options is never blamed on the function.)
/**
 * Wraps `fn` so each distinct argument list is computed once across every process sharing the cache.
 * A synchronous `fn` becomes asynchronous. `this` is passed through to `fn` and to a key function.
 * The key is the function's name and its arguments, encoded by value; the cache is `options.cache`, else
 * the default cache, looked up at each call.
 *
 * @typeParam F - The wrapped function's type: the wrapper takes its parameters and resolves to its result.
 * @param fn - The function to cache. An anonymous one needs `options.name`.
 * @param options - Key, tags, cache and freshness options for every call; default: the cache's.
 * @throws An {@link InvalidOptionError} at once, for a bad option or an anonymous function without a name.
 * A call rejects with {@link NoCacheError} when there is no cache, and with {@link UnkeyableArgumentError}
 * for an argument that cannot be part of a key.
 *
 * @example
 * ```ts
 * const exchangeRate = cached(
 *   async function exchangeRate(from: string, to: string): Promise<number> { ... },
 *   { ttl: '30s', tags: (from: string) => [`currency:${from}`] },
 * );
 *
 * await exchangeRate('EUR', 'USD'); // computed once across the fleet, then served from the cache
 * await exchangeRate.invalidate('EUR', 'USD');
 * ```
 */
export function cached<F extends (...args: any[]) => unknown>(fn: F, options?: CachedFunctionOptions<Parameters<F>>): CachedFunction<Parameters<F>, ReturnType<F>> {
  type A = Parameters<F>;
  type R = ReturnType<F>;
  const where = `cached(${typeof fn === 'function' ? nameOf(fn, options) : ''})`;
  if (typeof fn !== 'function') throw located(new InvalidOptionError('fn', fn, 'the function to cache'), where);
  const normalized = checkedAt(where, () => normalize(options, FUNCTION_OPTIONS));
  const name = normalized.name ?? fn.name;
  if (!name) {
    throw new InvalidOptionError(
      'name',
      undefined,
      '',
      `herdless: cached() needs a name for an anonymous function (the name is part of its keys, and anonymous functions would share them); pass { name: 'loadUser' } or wrap a named function`,
    );
  }
  const target = new FunctionTarget(name, normalized);
  const wrapper = function (this: unknown, ...args: A): Promise<Awaited<R>> {
    return callCached(target, this, args, () => fn.apply(this, args)) as Promise<Awaited<R>>;
  } as CachedFunction<A, R>;
  Object.defineProperty(wrapper, 'name', { value: name });
  wrapper.key = (...args) => redisKey(target, undefined, args);
  wrapper.invalidate = (...args) => evictCached(target, undefined, args);
  wrapper.peek = (...args) => peekCached(target, undefined, args) as Promise<Awaited<R> | undefined>;
  link(wrapper, target);
  return wrapper;
}

// The name messages use before the options are checked: the `name` option if it is a usable one, else fn's.
function nameOf(fn: Function, options: unknown): string {
  const name = (options as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : fn.name;
}

class FunctionTarget implements Target {
  private readonly formatted: string;
  private readonly fixed: readonly string[];

  constructor(private readonly name: string, readonly options: Normalized) {
    this.formatted = formatHead({ namespace: options.namespace, name, version: options.version });
    this.fixed = fixedTags(this.formatted, options);
  }

  label(): string {
    return this.name;
  }

  head(): string {
    return this.formatted;
  }

  ownTag(): string {
    return this.fixed[0];
  }

  tags(): readonly string[] {
    return this.fixed;
  }

  cache(): Cache {
    const cache = this.options.cache ?? getDefaultCache();
    if (!cache) throw new NoCacheError(this.name, false);
    return cache;
  }

  callOptions(): CallOptions | undefined {
    return this.options.call;
  }
}
