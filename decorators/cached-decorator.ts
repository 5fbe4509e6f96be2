import './polyfill';
import type { Duration } from '../src/duration';
import { InvalidOptionError } from '../src/errors';
import { DecoratorUsageError } from './errors';
import { carryFunctionMetadata } from './metadata-store';
import { MethodTarget } from './method-target';
import { recordLegacy, recordStandard } from './method-registry';
import { detect, looksLikeDecoratorCall, memberLabel, placement, type Invocation } from './mode';
import { checkedWhenApplied, METHOD_OPTIONS, normalize, type CachedMethodOptions, type KeyFunction, type Normalized } from './options';
import { callCached, link } from './target';
import type { Checked, Member, Mistake, Placement } from './type-checks';

// The instance type a decorator accepts: any object unless options (instanceKey) fixed it.
type Instance<T> = unknown extends T ? object : T;

/**
 * The type of what @Cached(...) returns, for both TypeScript modes. It accepts only instance methods that
 * return a promise: a cached method always returns one, so a synchronous signature would mislead its
 * callers (declare it `async`, or its return type `Promise<T>`). Getters, fields and static methods are
 * refused by the type checker as they are at runtime. A key function's parameters (`A`) and a tags
 * function's (`G`) must fit the method's leading parameters (`[...A, ...any[]]`), so they may ignore
 * trailing ones. One signature serves both modes, and a mistake is reported as the type of its first
 * parameter: a sentence saying what to change.
 */
export interface CachedMethodDecorator<A extends unknown[], T = unknown, G extends unknown[] = any[]> {
  /** Standard decorators pass (value, context); experimentalDecorators (prototype or constructor, key, descriptor), or (class). */
  <V, C = undefined, D = undefined>(value: Checked<V, CachedMistake<Member<V, C, D>, A, T, G>>, context?: C, descriptor?: D): void;
}

// The first thing wrong with caching this member, or never.
type CachedMistake<M, A extends unknown[], T, G extends unknown[]> =
  M extends { kind: 'method'; method: infer F; instance: infer This }
    ? F extends (...args: any) => Promise<unknown>
      ? F extends (...args: [...A, ...any[]]) => unknown
        ? F extends (...args: [...G, ...any[]]) => unknown
          ? This extends Instance<T>
            ? never
            : Mistake<"@Cached's instanceKey must take an instance of the class that declares the method">
          : Mistake<"@Cached's tags function must take the method's leading parameters, with the same types">
        : Mistake<"@Cached's key function must take the method's leading parameters, with the same types">
      : Mistake<'@Cached must decorate an async method (returning a Promise): declare it async, or its return type Promise<T>'>
    : Placement<
        M,
        '@Cached',
        {
          static: 'wrap the function with cached() instead';
          accessor: 'make it an async method, since a cached value arrives as a promise';
          field: "wrap the function instead: load = cached(async (id) => ..., { name: 'load' })";
        }
      >;

// Every one-argument form is one signature (options or a ttl), so a mistake in it is reported where it is
// written (at `ttl: 'soon'`), not as "no overload matches". The key and tags functions' parameters are
// inferred apart (A, G), so a mistake in either names its own option.
/**
 * Caches an async method: each distinct argument list is computed once across every process sharing the
 * cache. Forms: @Cached(), @Cached(ttl), @Cached(ttl, key), @Cached({ ttl, key, tags, cache, version, ... }).
 * A method that returns a plain value at runtime still returns a promise once decorated.
 * The key is the class and method names and the arguments, encoded by value; the cache is `options.cache`,
 * else the class's `@CacheConfig` cache, else the default cache, looked up at each call.
 *
 * @throws An {@link InvalidOptionError} or a {@link DecoratorUsageError} when the class is defined, for a
 * bad option or a member that is not an instance method. A call rejects with {@link NoCacheError} when
 * there is no cache, and with {@link UnkeyableArgumentError} for an argument that cannot be part of a key.
 *
 * @example
 * ```ts
 * class ProductService {
 *   @Cached('10m')
 *   async getProduct(id: string): Promise<Product> { ... }
 *
 *   @Cached({ ttl: '1m', key: (query: Query) => query.text, tags: ['catalog'] })
 *   async search(query: Query): Promise<Product[]> { ... }
 * }
 * ```
 */
export function Cached<A extends unknown[] = any[], T = unknown, G extends unknown[] = any[]>(
  options?: CachedMethodOptions<A, T, G> | Duration,
): CachedMethodDecorator<A, NoInfer<T>, G>;
export function Cached<A extends unknown[] = any[]>(ttl: Duration, key: string | KeyFunction<A> | undefined): CachedMethodDecorator<A>;
/**
 * `@Cached` written without parentheses: the decorator is then Cached itself, applied to the member. This
 * form returns a sentence instead of a decorator, which the checker shows as the decorator's return type.
 */
export function Cached(
  value: object | undefined,
  context: DecoratorContext | string | symbol,
  descriptor?: PropertyDescriptor,
): {
  /** Not a value: its name is the message the type checker shows where `@Cached` lacks its parentheses. */
  'herdless: @Cached must be called: write @Cached() (or @Cached(ttl), @Cached({ ... })), not @Cached': true;
};
export function Cached(...factoryArgs: unknown[]): unknown {
  if (looksLikeDecoratorCall(factoryArgs)) {
    throw new DecoratorUsageError(`@Cached must be called${on(detect(factoryArgs))}: write @Cached() (or @Cached(ttl), @Cached({ ... })), not @Cached`);
  }
  const checked = checkedWhenApplied('@Cached', () => parse(factoryArgs));
  return function cachedDecorator(...args: unknown[]): unknown {
    const invocation = detect(args);
    const [given, normalized] = checked(invocation);
    if (invocation.mode === 'standard') return decorateStandard(invocation, given, normalized);
    if (invocation.mode === 'legacy-member') return decorateLegacy(invocation, given, normalized);
    throw misplaced(invocation);
  } as CachedMethodDecorator<any[]>;
}

function on(invocation: Invocation): string {
  const member = memberLabel(invocation);
  return member ? ` (on ${member})` : '';
}

function parse(args: unknown[]): [CachedMethodOptions, Normalized] {
  const [first, second] = args;
  if (args.length > 2) throw new InvalidOptionError('arguments', args, '@Cached(), @Cached(ttl), @Cached(ttl, key) or @Cached({ ... })');
  if (first === undefined && args.length <= 1) return [{}, {}];
  if (typeof first === 'number' || typeof first === 'string') {
    const options: CachedMethodOptions = second === undefined ? { ttl: first as Duration } : { ttl: first as Duration, key: second as string };
    if (second !== undefined && typeof second !== 'string' && typeof second !== 'function') {
      throw new InvalidOptionError('key', second, 'a string, or a function of the arguments returning a string');
    }
    return [Object.freeze(options), normalize(options, METHOD_OPTIONS)];
  }
  if (args.length === 2) throw new InvalidOptionError('ttl', first, "a duration such as '5m' or 30000 when a key follows it: @Cached(ttl, key)");
  const normalized = normalize(first, METHOD_OPTIONS);
  return [Object.freeze({ ...(first as CachedMethodOptions) }), normalized];
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

function decorateStandard(invocation: Extract<Invocation, { mode: 'standard' }>, given: CachedMethodOptions, options: Normalized): Method {
  const { value, context } = invocation;
  if (context.kind !== 'method' || context.static || typeof value !== 'function') throw misplaced(invocation);
  const property = context.name;
  const name = methodName(property, options);
  let replacement: Method | undefined;
  const target = new MethodTarget(property, name, options, { metadata: context.metadata, get wrapper() { return replacement; } });
  replacement = wrap(value as Method, target);
  link(replacement, target);
  recordStandard(context.metadata, { method: property, options: given });
  // Runs when an instance is constructed: the declaring class is then known, before any call.
  context.addInitializer(function (this: unknown) {
    target.resolve(this);
  });
  return replacement;
}

function decorateLegacy(invocation: Extract<Invocation, { mode: 'legacy-member' }>, given: CachedMethodOptions, options: Normalized): PropertyDescriptor {
  const { target: prototype, key: property, descriptor } = invocation;
  const owner = (prototype as { constructor?: Function }).constructor;
  if (typeof prototype === 'function' || !descriptor || typeof descriptor.value !== 'function' || typeof owner !== 'function') throw misplaced(invocation);
  const target = new MethodTarget(property, methodName(property, options), options, { owner });
  const replacement = wrap(descriptor.value as Method, target);
  link(replacement, target);
  recordLegacy(prototype, { method: property, options: given });
  return { ...descriptor, value: replacement };
}

function wrap(method: Method, target: MethodTarget): Method {
  const replacement = function (this: unknown, ...args: unknown[]): Promise<unknown> {
    return callCached(target, this, args, () => method.apply(this, args));
  };
  Object.defineProperty(replacement, 'name', { value: method.name });
  carryFunctionMetadata(method, replacement);
  return replacement;
}

function methodName(property: string | symbol, options: Normalized): string {
  if (options.name !== undefined) return options.name;
  if (typeof property === 'string') return property;
  throw new DecoratorUsageError(`@Cached on the symbol-named method ${property.toString()} needs a name for its keys: @Cached({ name: 'byId' })`);
}

function misplaced(invocation: Invocation): DecoratorUsageError {
  const where = placement(invocation);
  const member = memberLabel(invocation);
  const at = member ? ` (${member})` : '';
  const hint = where.includes('static')
    ? 'static methods are not supported; wrap the function with cached() instead'
    : where.includes('getter') || where.includes('setter') || where.includes('accessor')
      ? 'make it an async method, since a cached value arrives as a promise'
      : where.includes('field')
        ? "wrap the function instead: load = cached(async (id) => ..., { name: 'load' })"
        : where === 'a class'
          ? 'put it on the methods; to configure the whole class use @CacheConfig({ cache, namespace, ttl })'
          : 'put it on an async instance method';
  return new DecoratorUsageError(`@Cached cannot decorate ${where}${at}: ${hint}`);
}
