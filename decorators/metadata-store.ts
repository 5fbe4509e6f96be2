/*
 * Where legacy-mode decorators keep what tools read back. With reflect-metadata loaded (users of
 * emitDecoratorMetadata import it themselves) it is Reflect metadata, readable with
 * Reflect.getMetadata(key, target, property); without it, a WeakMap with the same shape. herdless never
 * imports reflect-metadata. Reads look in both, so a class decorated before reflect-metadata was loaded
 * is still found.
 */

interface ReflectMetadata {
  defineMetadata(key: unknown, value: unknown, target: object, property?: string | symbol): void;
  getOwnMetadata(key: unknown, target: object, property?: string | symbol): unknown;
  getOwnMetadataKeys?(target: object, property?: string | symbol): unknown[];
}

const fallback = new WeakMap<object, Map<string | symbol | undefined, Map<string, unknown>>>();

function reflect(): ReflectMetadata | undefined {
  const r = Reflect as unknown as Partial<ReflectMetadata>;
  return typeof r.defineMetadata === 'function' && typeof r.getOwnMetadata === 'function' ? (r as ReflectMetadata) : undefined;
}

export function defineOwnMetadata(key: string, value: unknown, target: object, property?: string | symbol): void {
  const r = reflect();
  if (r) return r.defineMetadata(key, value, target, property);
  let byProperty = fallback.get(target);
  if (!byProperty) fallback.set(target, (byProperty = new Map()));
  let byKey = byProperty.get(property);
  if (!byKey) byProperty.set(property, (byKey = new Map()));
  byKey.set(key, value);
}

export function getOwnMetadata(key: string, target: object, property?: string | symbol): unknown {
  const found = reflect()?.getOwnMetadata(key, target, property);
  return found !== undefined ? found : fallback.get(target)?.get(property)?.get(key);
}

/**
 * Gives `replacement` the Reflect metadata kept on `original` itself, so a decorator that replaces a method
 * keeps what the decorators applied before it (written below it) recorded there: NestJS keeps a handler's
 * route, guards, headers and status code on the method function. Decorators applied after it annotate the
 * replacement directly. Metadata on the (prototype, property) pair, such as design:paramtypes, stays with
 * the property and needs no copy. Without reflect-metadata there is no such metadata.
 */
export function carryFunctionMetadata(original: Function, replacement: Function): void {
  const r = reflect();
  if (!r || typeof r.getOwnMetadataKeys !== 'function') return;
  for (const key of r.getOwnMetadataKeys(original)) {
    r.defineMetadata(key, r.getOwnMetadata(key, original), replacement);
  }
}
