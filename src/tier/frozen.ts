/**
 * Deep freezing, so one decoded value can be handed to every caller of a memory-tier hit. Invariant: a
 * value is shared only when freezing makes it truly read-only. Plain objects, arrays and errors can be
 * frozen; a Map, Set, Date, typed array, ArrayBuffer or RegExp cannot (their contents change through
 * methods, not properties, and a typed array refuses to be frozen at all), so a value holding one is
 * never shared: it is decoded again for every caller.
 */

/** Whether every object reachable from `value` can be made read-only by Object.freeze. */
export function freezable(value: unknown): boolean {
  return check(value, new Set());
}

function check(value: unknown, seen: Set<object>): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function';
  if (seen.has(value)) return true;
  seen.add(value);
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value)) {
    if (proto !== Array.prototype) return false;
  } else if (proto !== Object.prototype && proto !== null && !(value instanceof Error)) {
    return false;
  }
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if (descriptor.get || descriptor.set) return false;
    if (!check(descriptor.value, seen)) return false;
  }
  return true;
}

/** Freezes `value` and everything reachable from it; call only when `freezable(value)`. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return value;
}
