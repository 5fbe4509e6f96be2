import './polyfill';
import type { Cache } from '../src/cache';
import { InvalidOptionError } from '../src/errors';
import { classConfig } from './class-config';
import { getDefaultCache } from './default-cache';
import { DecoratorUsageError, NoCacheError } from './errors';
import { carryFunctionMetadata } from './metadata-store';
import { detect, looksLikeDecoratorCall, memberLabel, placement, type Invocation } from './mode';
import { appliedTags, checkedWhenApplied, tagsOption, type TagsFunction } from './options';
import { evictCached, targetOf, type Target } from './target';
import type { Checked, Member, Mistake, Placement } from './type-checks';

/**
 * The arguments a mapping returns: a tuple, so they can be checked against the evicted method's parameters
 * (never[] is how TypeScript types a literal `[]`).
 */
export type EvictArgs = [] | [unknown, ...unknown[]] | never[];

/**
 * `method`, `tags`, or both: at least one (a type error otherwise). `G` types a tags function's
 * parameters, inferred apart from the `args` mapping's (`A`), so a mistake in either names its option.
 */
export interface CacheEvictOptions<M extends string, A extends unknown[], T extends EvictArgs, G extends unknown[] = any[]> {
  /** The `@Cached` method(s) of the same instance whose entry to remove. Optional with `tags`. */
  method?: M | readonly M[];
  /** Maps this method's arguments to theirs; default: the same arguments. `this` is the instance. Needs `method`. */
  args?: (...args: A) => T;
  /**
   * Tags to invalidate (`cache.invalidateTags`): every entry carrying one, whatever its method or key,
   * in every process. A fixed list (checked when the class is defined), or a function of this method's
   * arguments (`this` is the instance), run when the eviction is: after the method with 'after', so it
   * sees the state the method left. Invalidated in the named methods' caches, else the class's
   * `@CacheConfig` cache, else the default cache.
   */
  tags?: readonly string[] | TagsFunction<G>;
  /**
   * 'after' (default): once this method has succeeded; nothing is evicted if it throws. 'before': before it
   * runs, whatever the outcome (a reader may then cache the old data again while this method runs).
   */
  when?: 'after' | 'before';
}

// Without a mapping (T is never), the evicted method takes this method's own arguments.
type TargetArgs<T, Own extends unknown[]> = [T] extends [never] ? Own : T extends unknown[] ? T : never;

// The options an options object names, as written (K): whether it has a method, tags, a mapping.
type EvictOptionName = keyof CacheEvictOptions<string, any[], never>;
// What infers K. With no names it adds nothing: an empty `{}` in the intersection would turn off
// TypeScript's weak-type check, and a bare `@CacheEvict` (handed the method, a function sharing no
// property with the options) would then match the options form.
type Written<K extends PropertyKey> = [K] extends [never] ? unknown : { [P in K]: unknown };

/**
 * The type of what @CacheEvict(...) returns, for both TypeScript modes. The class must have every named
 * method, async and taking the mapped arguments, so a typo or a stale mapping fails to compile; the
 * mapping's parameters must fit the decorated method's leading ones. The decorated method must return a
 * promise. One signature serves both modes, and a mistake is reported as the type of its first parameter:
 * a sentence saying what to change. (Whether a named method is cached is not visible to types, since a
 * decorator cannot change a method's type; the first call checks it, before the method runs.)
 */
export interface CacheEvictDecorator<M extends string, A extends unknown[], T, G extends unknown[] = any[], K = 'method'> {
  /** Standard decorators pass (value, context); experimentalDecorators (prototype or constructor, key, descriptor), or (class). */
  <V, C = undefined, D = undefined>(value: Checked<V, EvictMistake<Member<V, C, D>, M, A, T, G, K>>, context?: C, descriptor?: D): void;
}

// The first thing wrong with this eviction, or never. K: the options written. Without `method`, M is never
// and the checks of named methods pass.
type EvictMistake<Mem, M extends string, A extends unknown[], T, G extends unknown[], K> =
  Mem extends { kind: 'method'; method: infer F; instance: infer This }
    ? [Extract<K, 'method' | 'tags'>] extends [never]
      ? Mistake<"@CacheEvict needs the method(s) to evict or the tags to invalidate: @CacheEvict('getUser') or @CacheEvict({ tags: (id) => [`user:${id}`] })">
      : ArgsWithoutMethod<K> extends true
        ? Mistake<"@CacheEvict's args mapping maps to the evicted methods' arguments: name them with method, or drop args">
        : F extends (...args: any) => Promise<unknown>
          ? F extends (...args: [...A, ...any[]]) => unknown
            ? F extends (...args: [...G, ...any[]]) => unknown
              ? [Exclude<M, keyof This>] extends [never]
                ? [NotAsync<This, M>] extends [never]
                  ? [Refusing<This, M, TargetArgs<T, Parameters<F>>>] extends [never]
                    ? never
                    : [T] extends [never]
                      ? Mistake<`@CacheEvict: '${Refusing<This, M, Parameters<F>>}' does not take this method's arguments; map them: @CacheEvict('${Refusing<This, M, Parameters<F>>}', (id) => [id])`>
                      : Mistake<`@CacheEvict: '${Refusing<This, M, TargetArgs<T, Parameters<F>>>}' does not take the arguments the mapping returns`>
                  : Mistake<`@CacheEvict names '${NotAsync<This, M>}', which is not an async method of this class`>
                : Mistake<`@CacheEvict names '${Exclude<M, keyof This>}', which is not a public method of this class`>
              : Mistake<"@CacheEvict's tags function must take the method's leading parameters, with the same types">
            : Mistake<"@CacheEvict's args mapping must take the method's leading parameters, with the same types">
          : Mistake<'@CacheEvict must decorate an async method (returning a Promise): declare it async, or its return type Promise<T>'>
    : Placement<
        Mem,
        '@CacheEvict',
        {
          static: 'put it on an async instance method (an update or a delete)';
          accessor: 'put it on an async instance method (an update or a delete)';
          field: 'put it on an async instance method (an update or a delete)';
        }
      >;

// An args mapping written without a method to map for.
type ArgsWithoutMethod<K> = 'args' extends K ? ([Extract<K, 'method'>] extends [never] ? true : false) : false;
type NotAsync<This, M extends string> = { [K in M]: K extends keyof This ? (This[K] extends (...args: any) => Promise<unknown> ? never : K) : never }[M];
type Refusing<This, M extends string, Args extends unknown[]> = { [K in M]: K extends keyof This ? (This[K] extends (...args: Args) => Promise<unknown> ? never : K) : never }[M];

/**
 * Removes the cached entries of other methods of the same instance when this one (an update, a delete)
 * completes, e.g. `@CacheEvict('getUser', (id: string, patch: Patch) => [id])`, and/or invalidates tags,
 * e.g. ``@CacheEvict({ tags: (id: string) => [`product:${id}`] })``, which reaches entries of any method or
 * function. The core's delete and tag invalidation also void a computation in flight, so a value read
 * before the update is never stored after it. By default the eviction runs once the method has succeeded
 * (`when: 'after'`).
 *
 * @throws An {@link InvalidOptionError} or a {@link DecoratorUsageError} when the class is defined, for a
 * bad option or a member that is not an instance method. A call rejects with {@link DecoratorUsageError},
 * before the method runs, when a named method is not a `@Cached` method of the instance.
 *
 * @example
 * ```ts
 * class ProductService {
 *   @Cached()
 *   async getProduct(id: string): Promise<Product> { ... }
 *
 *   @CacheEvict('getProduct', (id: string, patch: Partial<Product>) => [id])
 *   async update(id: string, patch: Partial<Product>): Promise<void> { ... }
 *
 *   @CacheEvict({ method: 'getProduct', tags: (id: string) => [`product:${id}`, 'catalog'] })
 *   async remove(id: string): Promise<void> { ... }
 * }
 * ```
 */
// The options form comes first: TypeScript would otherwise type a mapping inside it while trying the
// other overload, and lose the tuple type of what it returns. K is inferred as the names the options
// object is written with (a misspelt one still fails as an unknown property): without `method` (tags only)
// M is never, and a type can still tell that `tags` was given when it is a fixed list.
export function CacheEvict<M extends string = never, A extends unknown[] = any[], T extends EvictArgs = never, G extends unknown[] = any[], K extends EvictOptionName = never>(
  options: CacheEvictOptions<M, A, T, G> & Written<K>,
): CacheEvictDecorator<M, A, T, G, K>;
export function CacheEvict<M extends string, A extends unknown[] = any[], T extends EvictArgs = never>(
  method: M | readonly M[],
  args?: (...args: A) => T,
): CacheEvictDecorator<M, A, T>;
/**
 * `@CacheEvict` written without its arguments: the decorator is then CacheEvict itself, applied to the
 * member. This form returns a sentence instead of a decorator, which the checker shows as the decorator's
 * return type.
 */
export function CacheEvict(
  value: object | undefined,
  context: DecoratorContext | string | symbol,
  descriptor?: PropertyDescriptor,
): {
  /** Not a value: its name is the message the type checker shows where `@CacheEvict` lacks its arguments. */
  "herdless: @CacheEvict must be called with the method(s) to evict: @CacheEvict('getUser')": true;
};
export function CacheEvict(...factoryArgs: unknown[]): unknown {
  if (looksLikeDecoratorCall(factoryArgs)) {
    const member = memberLabel(detect(factoryArgs));
    throw new DecoratorUsageError(`@CacheEvict must be called with the method(s) to evict${member ? ` (on ${member})` : ''}: @CacheEvict('getUser')`);
  }
  const checked = checkedWhenApplied('@CacheEvict', () => parse(factoryArgs));
  return function cacheEvictDecorator(...args: unknown[]): unknown {
    const invocation = detect(args);
    const plan = checked(invocation);
    if (invocation.mode === 'standard') {
      const { value, context } = invocation;
      if (context.kind !== 'method' || context.static || typeof value !== 'function') throw misplaced(invocation);
      return evicting(value as Method, String(context.name), plan);
    }
    if (invocation.mode === 'legacy-member') {
      const { target, key, descriptor } = invocation;
      if (typeof target === 'function' || !descriptor || typeof descriptor.value !== 'function') throw misplaced(invocation);
      return { ...descriptor, value: evicting(descriptor.value as Method, String(key), plan) };
    }
    throw misplaced(invocation);
  } as CacheEvictDecorator<string, any[], never>;
}

interface Plan {
  /** Empty with tags only. */
  methods: readonly string[];
  args?: (this: unknown, ...args: unknown[]) => unknown;
  tags?: readonly string[] | ((this: unknown, ...args: unknown[]) => unknown);
  when: 'after' | 'before';
}

const KNOWN = ['method', 'args', 'tags', 'when'];

type Method = (this: unknown, ...args: unknown[]) => unknown;

function parse(args: unknown[]): Plan {
  const [first, second] = args;
  const options = (typeof first === 'string' || Array.isArray(first) ? { method: first, args: second } : first) as CacheEvictOptions<string, unknown[], EvictArgs>;
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('method', first, "the name of a @Cached method, a list of names, or { method, args, tags, when }");
  }
  if (args.length > 1 && !(typeof first === 'string' || Array.isArray(first))) {
    throw new InvalidOptionError('arguments', args, "@CacheEvict(method, args?) or @CacheEvict({ method, args, tags, when })");
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.includes(name)) throw InvalidOptionError.unknown(name, KNOWN);
  }
  const tags = options.tags === undefined ? undefined : tagsOption(options.tags);
  if (options.method === undefined && tags === undefined) {
    throw new InvalidOptionError(
      'method',
      undefined,
      '',
      "herdless: @CacheEvict needs the method(s) to evict or the tags to invalidate: @CacheEvict('getUser') or @CacheEvict({ tags: (id) => [`user:${id}`] })",
    );
  }
  const methods = options.method === undefined ? [] : typeof options.method === 'string' ? [options.method] : options.method;
  if (!Array.isArray(methods) || (options.method !== undefined && methods.length === 0) || !methods.every((m) => typeof m === 'string' && m !== '')) {
    throw new InvalidOptionError('method', options.method, 'the name of a @Cached method of the same class, or a non-empty list of names');
  }
  if (options.args !== undefined && typeof options.args !== 'function') {
    throw new InvalidOptionError('args', options.args, 'a function mapping this method\'s arguments to the evicted method\'s, e.g. (id, patch) => [id]');
  }
  if (options.args !== undefined && methods.length === 0) {
    throw new InvalidOptionError('args', undefined, '', "herdless: @CacheEvict's args maps this method's arguments to the evicted methods'; name them with method, or drop args");
  }
  const when = options.when ?? 'after';
  if (when !== 'after' && when !== 'before') throw new InvalidOptionError('when', when, "'after' or 'before'");
  return { methods: [...methods], args: options.args as Plan['args'], tags, when };
}

function evicting(method: Method, name: string, plan: Plan): Method {
  const labelOf = (self: unknown) => `${(self as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? '(no instance)'}.${name}`;
  // The evicted methods are looked up on the instance before this method runs, so naming one that is not
  // cached is refused before the method can change any data.
  const targetsOf = (self: unknown): Target[] =>
    plan.methods.map((evicted) => {
      const target = targetOf((self as Record<string, unknown> | undefined)?.[evicted]);
      if (!target) throw new DecoratorUsageError(`@CacheEvict on ${labelOf(self)} names '${evicted}', which is not a @Cached method of this instance`);
      return target;
    });
  // The caches tags are invalidated in, also found before the method runs: the named methods' caches, else
  // (tags only) the class's @CacheConfig cache, else the default one.
  const cachesOf = (self: unknown, targets: Target[]): Cache[] => {
    if (plan.tags === undefined) return [];
    if (targets.length > 0) return [...new Set(targets.map((target) => target.cache(self)))];
    const owner = (self as { constructor?: unknown } | null | undefined)?.constructor;
    const cache = (typeof owner === 'function' ? classConfig(owner).cache : undefined) ?? getDefaultCache();
    if (!cache) throw new NoCacheError(labelOf(self), 'evict');
    return [cache];
  };
  // A tags function's result is user tags, checked like a fixed list: herdless' own (NUL) ones are refused.
  const tagsOf = (self: unknown, args: unknown[]): readonly string[] => {
    const tags = plan.tags;
    if (typeof tags !== 'function') return tags ?? [];
    return appliedTags(tags, self, args, `the @CacheEvict tags function of ${labelOf(self)}`);
  };
  const evict = async (targets: Target[], caches: Cache[], self: unknown, args: unknown[]): Promise<void> => {
    const tags = tagsOf(self, args);
    const mapped = plan.args ? plan.args.apply(self, args) : args;
    if (!Array.isArray(mapped)) {
      throw new InvalidOptionError('args', mapped, 'an array', `herdless: the @CacheEvict args mapping of ${labelOf(self)} returned ${String(mapped)}; it must return the evicted method's arguments as an array, e.g. [id]`);
    }
    await Promise.all([
      ...targets.map((target) => evictCached(target, self, mapped)),
      ...(tags.length === 0 ? [] : caches.map((cache) => cache.invalidateTags(tags))),
    ]);
  };
  const replacement = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const targets = targetsOf(this);
    const caches = cachesOf(this, targets);
    if (plan.when === 'before') await evict(targets, caches, this, args);
    const result = await method.apply(this, args);
    if (plan.when === 'after') await evict(targets, caches, this, args);
    return result;
  };
  Object.defineProperty(replacement, 'name', { value: method.name });
  carryFunctionMetadata(method, replacement);
  return replacement;
}

function misplaced(invocation: Invocation): DecoratorUsageError {
  const member = memberLabel(invocation);
  return new DecoratorUsageError(`@CacheEvict cannot decorate ${placement(invocation)}${member ? ` (${member})` : ''}: put it on an async instance method (an update or a delete)`);
}
