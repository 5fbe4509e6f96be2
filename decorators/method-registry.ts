import { metadataSymbol } from './polyfill';
import { classConfig } from './class-config';
import { defineOwnMetadata, getOwnMetadata } from './metadata-store';
import type { CachedMethodOptions } from './options';

/** What getCachedMethods() reports for one cached method. */
export interface CachedMethodInfo {
  /** The class that declares the method, as keys name it. */
  readonly className: string;
  /** The method's property name. */
  readonly method: string | symbol;
  /** The options given to @Cached, as given. */
  readonly options: Readonly<CachedMethodOptions>;
}

/**
 * Reflect metadata keys (legacy mode): per method on the prototype, and the list of names on the prototype.
 * This one is the per-method entry, `{ method, options }`; getCachedMethods() reads both decorator modes.
 */
export const CACHED_METADATA_KEY = 'herdless:cached';
/** Reflect metadata key (legacy mode) of the list of a prototype's own cached method names. */
export const CACHED_METHODS_METADATA_KEY = 'herdless:cached-methods';
// Standard mode: a record on the class's own context.metadata object.
const STANDARD_KEY = Symbol.for('herdless:cached-methods');

type Entry = Omit<CachedMethodInfo, 'className'>;

export function recordLegacy(prototype: object, entry: Entry): void {
  defineOwnMetadata(CACHED_METADATA_KEY, entry, prototype, entry.method);
  const names = (getOwnMetadata(CACHED_METHODS_METADATA_KEY, prototype) as (string | symbol)[] | undefined) ?? [];
  if (!names.includes(entry.method)) defineOwnMetadata(CACHED_METHODS_METADATA_KEY, [...names, entry.method], prototype);
}

export function recordStandard(metadata: DecoratorMetadataObject | undefined, entry: Entry): void {
  if (!metadata) return;
  const own = Object.hasOwn(metadata, STANDARD_KEY) ? (metadata[STANDARD_KEY] as Map<string | symbol, Entry>) : undefined;
  const entries = own ?? new Map<string | symbol, Entry>();
  entries.set(entry.method, entry);
  if (!own) metadata[STANDARD_KEY] = entries;
}

/**
 * The cached methods of a class, its own first, then inherited ones it does not override, whichever
 * decorator mode compiled each class of the chain.
 *
 * @example
 * ```ts
 * for (const { className, method, options } of getCachedMethods(ProductService)) {
 *   console.log(`${className}.${String(method)}`, options.ttl);
 * }
 * ```
 */
export function getCachedMethods(cls: Function): CachedMethodInfo[] {
  const found: CachedMethodInfo[] = [];
  const seen = new Set<string | symbol>();
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const className = classConfig(c).name ?? c.name;
    const add = (entry: Entry) => {
      if (seen.has(entry.method)) return;
      seen.add(entry.method);
      found.push({ className, ...entry });
    };
    const metadata = Object.hasOwn(c, metadataSymbol) ? ((c as unknown as Record<symbol, DecoratorMetadataObject | undefined>)[metadataSymbol]) : undefined;
    if (metadata && Object.hasOwn(metadata, STANDARD_KEY)) (metadata[STANDARD_KEY] as Map<string | symbol, Entry>).forEach(add);
    const prototype = (c as { prototype?: object }).prototype;
    if (prototype) {
      const names = getOwnMetadata(CACHED_METHODS_METADATA_KEY, prototype) as (string | symbol)[] | undefined;
      for (const name of names ?? []) add(getOwnMetadata(CACHED_METADATA_KEY, prototype, name) as Entry);
    }
  }
  return found;
}
