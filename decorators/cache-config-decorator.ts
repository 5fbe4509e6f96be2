import './polyfill';
import { InvalidOptionError } from '../src/errors';
import { checkFreshness, FRESHNESS } from '../src/options';
import { setClassConfig, type CacheConfigOptions } from './class-config';
import { DecoratorUsageError } from './errors';
import { detect, looksLikeDecoratorCall, memberLabel, placement } from './mode';
import { checkCache, checkedWhenApplied } from './options';

/** The type of what @CacheConfig(...) returns: a class decorator in either TypeScript mode. */
export interface CacheConfigDecorator {
  /** Standard (TC39) decorators. */
  <C extends abstract new (...args: any[]) => unknown>(value: C, context: ClassDecoratorContext<C>): void;
  /** experimentalDecorators; `context?: never` keeps a standard member decorator call from matching. */
  (target: Function, context?: never): void;
}

const KNOWN = ['cache', 'namespace', 'name', ...FRESHNESS];

/**
 * Settings for every cached method the class declares, below a method's own options and above the
 * default cache. Subclasses inherit cache, namespace and the freshness options (ttl, grace, earlyRefresh, ...).
 *
 * @throws An {@link InvalidOptionError} or a {@link DecoratorUsageError} when the class is defined, for a
 * bad option, for `@CacheConfig` without its options, or on anything but a class.
 *
 * @example
 * ```ts
 * @CacheConfig({ cache: catalogCache, namespace: 'catalog', ttl: '10m', grace: '1h' })
 * class ProductService {
 *   @Cached()
 *   async getProduct(id: string): Promise<Product> { ... } // fresh for 10 minutes
 *
 *   @Cached('1m')
 *   async search(text: string): Promise<Product[]> { ... } // its own ttl wins
 * }
 * ```
 */
export function CacheConfig(options: CacheConfigOptions): CacheConfigDecorator {
  if (looksLikeDecoratorCall([options]) || typeof options === 'function') {
    throw new DecoratorUsageError('@CacheConfig must be called with its options: @CacheConfig({ cache, namespace, ttl })');
  }
  const checked = checkedWhenApplied('@CacheConfig', () => check(options));
  return function cacheConfigDecorator(...args: unknown[]): void {
    const invocation = detect(args);
    const config = checked(invocation);
    if (invocation.mode === 'standard' && invocation.context.kind === 'class' && typeof invocation.value === 'function') {
      setClassConfig(invocation.value, config);
      return;
    }
    if (invocation.mode === 'legacy-class') {
      setClassConfig(invocation.target, config);
      return;
    }
    const member = memberLabel(invocation);
    throw new DecoratorUsageError(`@CacheConfig decorates a class, not ${placement(invocation)}${member ? ` (${member})` : ''}; use @Cached on methods`);
  } as CacheConfigDecorator;
}

function check(options: unknown): CacheConfigOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', options, `an object with ${KNOWN.join(', ')}`);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN.includes(name)) throw InvalidOptionError.unknown(name, KNOWN);
  }
  const o = options as CacheConfigOptions;
  if (o.cache !== undefined) checkCache(o.cache, 'cache');
  checkFreshness(o);
  for (const name of ['namespace', 'name'] as const) {
    if (o[name] !== undefined && (typeof o[name] !== 'string' || o[name] === '')) throw new InvalidOptionError(name, o[name], 'a non-empty string');
  }
  return Object.freeze({ ...o });
}
