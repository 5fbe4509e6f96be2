import { HerdlessError } from '../src/errors';

/**
 * A decorator was used where it cannot work (a getter, a field, a static method, a class), or a cached
 * method was used in a way its key cannot be built. Thrown where the mistake is made: at class
 * definition for placement, at the call for use. `code`: 'ERR_HERDLESS_DECORATOR_USAGE'.
 */
export class DecoratorUsageError extends HerdlessError {
  constructor(message: string) {
    super('ERR_HERDLESS_DECORATOR_USAGE', `herdless: ${message}`);
  }
}

/**
 * No cache was given by the options, by `@CacheConfig` or by setDefaultCache(). Thrown at the first call.
 * `code`: 'ERR_HERDLESS_NO_CACHE'.
 */
export class NoCacheError extends HerdlessError {
  /** 'UserService.getUser' for a method, the function's name for cached(fn), the method for @CacheEvict's tags. */
  readonly target: string;
  /** `isMethod` 'evict': a `@CacheEvict` with tags only, whose cache is the class's or the default one. */
  constructor(target: string, isMethod: boolean | 'evict') {
    super(
      'ERR_HERDLESS_NO_CACHE',
      isMethod === 'evict'
        ? `herdless: ${target} has no cache to invalidate its @CacheEvict tags in; put @CacheConfig({ cache }) on the class, ` +
            `name the @Cached methods whose cache to use with method, or call setDefaultCache(createCache(...)) at startup`
        : `herdless: ${target} has no cache to use; pass { cache } to ${isMethod ? '@Cached' : 'cached()'}` +
            `${isMethod ? ', put @CacheConfig({ cache }) on the class,' : ''} or call setDefaultCache(createCache(...)) at startup`,
    );
    this.target = target;
  }
}

/**
 * An argument cannot become part of a key: a function, a symbol, a cyclic object, or an object whose value
 * is not observable (a Promise, a WeakMap, an Error). `index` is the argument's 0-based position, `path`
 * where inside it the problem is (`args[1].filter.callback`). `code`: 'ERR_HERDLESS_UNKEYABLE_ARGUMENT'.
 */
export class UnkeyableArgumentError extends HerdlessError {
  /** The cached function or method called: 'UserService.getUser', or the function's name. */
  readonly target: string;
  /** The argument's 0-based position. */
  readonly index: number;
  /** Where inside the argument the unkeyable value is, e.g. `args[1].filter.callback`. */
  readonly path: string;
  constructor(target: string, index: number, path: string, what: string) {
    super(
      'ERR_HERDLESS_UNKEYABLE_ARGUMENT',
      `herdless: cannot build a cache key for ${target}: argument ${index + 1} (${path}) is ${what}. ` +
        `Pass plain data (strings, numbers, booleans, BigInt, arrays, plain objects, Date, Map, Set, typed arrays), ` +
        `or give ${target} a key option that turns its arguments into a string`,
    );
    this.target = target;
    this.index = index;
    this.path = path;
  }
}
