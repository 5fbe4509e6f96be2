import './polyfill';
import { InvalidOptionError } from '../src/errors';
import { DecoratorUsageError } from './errors';
import { carryFunctionMetadata } from './metadata-store';
import { detect, looksLikeDecoratorCall, memberLabel, placement, type Invocation } from './mode';
import { checkedWhenApplied } from './options';
import { evictCached, targetOf, type Target } from './target';
import type { Checked, Member, Mistake, Placement } from './type-checks';

/**
 * The arguments a mapping returns: a tuple, so they can be checked against the evicted method's parameters
 * (never[] is how TypeScript types a literal `[]`).
 */
export type EvictArgs = [] | [unknown, ...unknown[]] | never[];

export interface CacheEvictOptions<M extends string, A extends unknown[], T extends EvictArgs> {
  /** The @Cached method(s) of the same instance whose entry to remove. */
  method: M | readonly M[];
  /** Maps this method's arguments to theirs; default: the same arguments. `this` is the instance. */
  args?: (...args: A) => T;
  /**
   * 'after' (default): once this method has succeeded; nothing is evicted if it throws. 'before': before it
   * runs, whatever the outcome (a reader may then cache the old data again while this method runs).
   */
  when?: 'after' | 'before';
}

// Without a mapping (T is never), the evicted method takes this method's own arguments.
type TargetArgs<T, Own extends unknown[]> = [T] extends [never] ? Own : T extends unknown[] ? T : never;

/**
 * The type of what @CacheEvict(...) returns, for both TypeScript modes. The class must have every named
 * method, async and taking the mapped arguments, so a typo or a stale mapping fails to compile; the
 * mapping's parameters must fit the decorated method's leading ones. The decorated method must return a
 * promise. One signature serves both modes, and a mistake is reported as the type of its first parameter:
 * a sentence saying what to change. (Whether a named method is cached is not visible to types, since a
 * decorator cannot change a method's type; the first call checks it, before the method runs.)
 */
export interface CacheEvictDecorator<M extends string, A extends unknown[], T> {
  /** Standard decorators pass (value, context); experimentalDecorators (prototype or constructor, key, descriptor), or (class). */
  <V, C = undefined, D = undefined>(value: Checked<V, EvictMistake<Member<V, C, D>, M, A, T>>, context?: C, descriptor?: D): void;
}

// The first thing wrong with this eviction, or never.
type EvictMistake<Mem, M extends string, A extends unknown[], T> =
  Mem extends { kind: 'method'; method: infer F; instance: infer This }
    ? F extends (...args: any) => Promise<unknown>
      ? F extends (...args: [...A, ...any[]]) => unknown
        ? [Exclude<M, keyof This>] extends [never]
          ? [NotAsync<This, M>] extends [never]
            ? [Refusing<This, M, TargetArgs<T, Parameters<F>>>] extends [never]
              ? never
              : [T] extends [never]
                ? Mistake<`@CacheEvict: '${Refusing<This, M, Parameters<F>>}' does not take this method's arguments; map them: @CacheEvict('${Refusing<This, M, Parameters<F>>}', (id) => [id])`>
                : Mistake<`@CacheEvict: '${Refusing<This, M, TargetArgs<T, Parameters<F>>>}' does not take the arguments the mapping returns`>
            : Mistake<`@CacheEvict names '${NotAsync<This, M>}', which is not an async method of this class`>
          : Mistake<`@CacheEvict names '${Exclude<M, keyof This>}', which is not a public method of this class`>
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

type NotAsync<This, M extends string> = { [K in M]: K extends keyof This ? (This[K] extends (...args: any) => Promise<unknown> ? never : K) : never }[M];
type Refusing<This, M extends string, Args extends unknown[]> = { [K in M]: K extends keyof This ? (This[K] extends (...args: Args) => Promise<unknown> ? never : K) : never }[M];

/**
 * Removes the cached entries of other methods of the same instance when this one (an update, a delete)
 * completes, e.g. @CacheEvict('getUser', (id: string, patch: Patch) => [id]). The core's delete also
 * voids a computation in flight, so a value read before the update is never stored after it.
 */
// The options form comes first: TypeScript would otherwise type a mapping inside it while trying the
// other overload, and lose the tuple type of what it returns.
export function CacheEvict<M extends string, A extends unknown[] = any[], T extends EvictArgs = never>(options: CacheEvictOptions<M, A, T>): CacheEvictDecorator<M, A, T>;
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
): { "herdless: @CacheEvict must be called with the method(s) to evict: @CacheEvict('getUser')": true };
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
  methods: readonly string[];
  args?: (this: unknown, ...args: unknown[]) => unknown;
  when: 'after' | 'before';
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

function parse(args: unknown[]): Plan {
  const [first, second] = args;
  const options = (typeof first === 'string' || Array.isArray(first) ? { method: first, args: second } : first) as CacheEvictOptions<string, unknown[], EvictArgs>;
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('method', first, "the name of a @Cached method, a list of names, or { method, args, when }");
  }
  if (args.length > 1 && !(typeof first === 'string' || Array.isArray(first))) {
    throw new InvalidOptionError('arguments', args, "@CacheEvict(method, args?) or @CacheEvict({ method, args, when })");
  }
  for (const name of Object.keys(options)) {
    if (!['method', 'args', 'when'].includes(name)) throw InvalidOptionError.unknown(name, ['method', 'args', 'when']);
  }
  const methods = typeof options.method === 'string' ? [options.method] : options.method;
  if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === 'string' && m !== '')) {
    throw new InvalidOptionError('method', options.method, 'the name of a @Cached method of the same class, or a non-empty list of names');
  }
  if (options.args !== undefined && typeof options.args !== 'function') {
    throw new InvalidOptionError('args', options.args, 'a function mapping this method\'s arguments to the evicted method\'s, e.g. (id, patch) => [id]');
  }
  const when = options.when ?? 'after';
  if (when !== 'after' && when !== 'before') throw new InvalidOptionError('when', when, "'after' or 'before'");
  return { methods: [...methods], args: options.args as Plan['args'], when };
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
  const evict = async (targets: Target[], self: unknown, args: unknown[]): Promise<void> => {
    const mapped = plan.args ? plan.args.apply(self, args) : args;
    if (!Array.isArray(mapped)) {
      throw new InvalidOptionError('args', mapped, 'an array', `herdless: the @CacheEvict args mapping of ${labelOf(self)} returned ${String(mapped)}; it must return the evicted method's arguments as an array, e.g. [id]`);
    }
    await Promise.all(targets.map((target) => evictCached(target, self, mapped)));
  };
  const replacement = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
    const targets = targetsOf(this);
    if (plan.when === 'before') await evict(targets, this, args);
    const result = await method.apply(this, args);
    if (plan.when === 'after') await evict(targets, this, args);
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
