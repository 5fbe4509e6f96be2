import { INVALIDATE } from '../src/cache';
import { DecoratorUsageError } from './errors';
import { evictCached, peekCached, redisKey, targetOf, type Target } from './target';

/** The names of `T`'s async methods: the ones the instance form of these helpers accepts. */
type AsyncMethodNames<T> = { [K in keyof T]: T[K] extends (...args: any[]) => Promise<unknown> ? K : never }[keyof T];
/** A method's parameters, as the instance form of these helpers takes them after the name. */
type ParametersOf<F> = F extends (...args: infer P) => unknown ? P : never;
/** What an async method resolves to. */
type ResultOf<F> = F extends (...args: any[]) => Promise<infer R> ? R : never;

/*
 * Each helper takes either the cached function itself, invalidate(service.getUser, id), or an instance
 * and a method name, invalidate(service, 'getUser', id). The second form is needed for methods keyed per
 * instance (instanceKey): a method taken off its instance no longer knows which instance it was.
 */

/**
 * Removes the cached value for these arguments and voids a computation in flight; true if a value was removed.
 *
 * @throws Rejects with a {@link DecoratorUsageError} when given neither a cached function nor an instance and
 * the name of one of its `@Cached` methods.
 *
 * @example
 * ```ts
 * await invalidate(service.getProduct, '42');
 * await invalidate(tenantService, 'getSettings', 'theme'); // a method keyed per instance (instanceKey)
 * ```
 */
export function invalidate<A extends unknown[]>(method: (...args: A) => Promise<unknown>, ...args: A): Promise<boolean>;
export function invalidate<T extends object, K extends AsyncMethodNames<T>>(instance: T, method: K, ...args: ParametersOf<T[K]>): Promise<boolean>;
export function invalidate(first: unknown, ...rest: unknown[]): Promise<boolean> {
  return settle(() => {
    const { target, self, args } = resolve('invalidate', first, rest);
    return evictCached(target, self, args);
  });
}

/**
 * Invalidates every entry of a cached method or cached() function: every argument list, every instance
 * (instanceKey included), in every process, in one write, whatever the number of entries (each carries
 * the function's own tag). Computations in flight are voided too. Entries of other methods, and of
 * functions with another name, version or namespace, are untouched.
 *
 * @throws Rejects with a {@link DecoratorUsageError} when given neither a cached function nor an instance and
 * the name of one of its `@Cached` methods, or given arguments (use invalidate() for one argument list).
 *
 * @example
 * ```ts
 * await invalidateAll(service.getProduct); // every entry of one method, in every process
 * await invalidateAll(service, 'getProduct'); // the same, by name
 * await invalidateAll(exchangeRate); // a function made by cached()
 * ```
 */
export function invalidateAll(method: (...args: any[]) => Promise<unknown>): Promise<void>;
export function invalidateAll<T extends object, K extends AsyncMethodNames<T>>(instance: T, method: K): Promise<void>;
export function invalidateAll(first: unknown, ...rest: unknown[]): Promise<void> {
  return settle(() => {
    const usage = "invalidateAll(service.getUser) or invalidateAll(service, 'getUser')";
    const { target, self, args } = resolve('invalidateAll', first, rest, usage);
    if (args.length > 0) {
      throw new DecoratorUsageError(`invalidateAll() invalidates every entry of ${target.label(self)} and takes no arguments; for one argument list use invalidate(): ${usage}`);
    }
    return target.cache(self)[INVALIDATE]([target.ownTag(self)], true);
  });
}

/**
 * The cached value for these arguments, or undefined; never runs the method.
 *
 * @example
 * ```ts
 * const product = await peek(service.getProduct, '42'); // Product | undefined
 * ```
 */
export function peek<A extends unknown[], R>(method: (...args: A) => Promise<R>, ...args: A): Promise<R | undefined>;
export function peek<T extends object, K extends AsyncMethodNames<T>>(instance: T, method: K, ...args: ParametersOf<T[K]>): Promise<ResultOf<T[K]> | undefined>;
export function peek(first: unknown, ...rest: unknown[]): Promise<unknown> {
  return settle(() => {
    const { target, self, args } = resolve('peek', first, rest);
    return peekCached(target, self, args);
  });
}

/**
 * The Redis key of the value for these arguments, as redis-cli shows it.
 *
 * @throws A {@link DecoratorUsageError} when given neither a cached function nor an instance and the name
 * of one of its `@Cached` methods.
 *
 * @example
 * ```ts
 * keyOf(service.getProduct, '42'); // 'herdless:{ProductService.getProduct("42")}:v'
 * ```
 */
export function keyOf<A extends unknown[]>(method: (...args: A) => Promise<unknown>, ...args: A): string;
export function keyOf<T extends object, K extends AsyncMethodNames<T>>(instance: T, method: K, ...args: ParametersOf<T[K]>): string;
export function keyOf(first: unknown, ...rest: unknown[]): string {
  const { target, self, args } = resolve('keyOf', first, rest);
  return redisKey(target, self, args);
}

function resolve(
  helper: string,
  first: unknown,
  rest: unknown[],
  usage = `${helper}(service.getUser, id) or ${helper}(service, 'getUser', id)`,
): { target: Target; self: unknown; args: unknown[] } {
  if (typeof first === 'function') {
    const target = targetOf(first);
    if (target) return { target, self: undefined, args: rest };
    throw new DecoratorUsageError(
      `${helper}() needs a function made by cached() or a @Cached method (${first.name || 'an anonymous function'} is neither; a bound or re-wrapped method is not recognised): ${usage}`,
    );
  }
  if (first !== null && typeof first === 'object' && (typeof rest[0] === 'string' || typeof rest[0] === 'symbol')) {
    const name = rest[0];
    const target = targetOf((first as Record<string | symbol, unknown>)[name]);
    if (target) return { target, self: first, args: rest.slice(1) };
    throw new DecoratorUsageError(`${helper}(): '${String(name)}' is not a @Cached method of ${first.constructor?.name ?? 'this object'}`);
  }
  throw new DecoratorUsageError(`${helper}() takes a cached function and its arguments, or an instance, a method name and its arguments: ${usage}`);
}

// A mistake in the arguments rejects like every other failure of these helpers, rather than throwing.
async function settle<T>(run: () => Promise<T>): Promise<T> {
  return run();
}
