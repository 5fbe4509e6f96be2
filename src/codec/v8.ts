import { deserialize, serialize } from 'node:v8';
import type { Codec, ReadAt } from './codec';

/**
 * The default codec: V8's structured-clone serializer, the one behind `structuredClone`. Date, Map, Set,
 * BigInt, RegExp, typed arrays, undefined, NaN, -0, Error, shared and cyclic references all come back as
 * they went in; functions and symbols are refused (the cache turns that into an EncodeError). Class
 * instances come back as plain objects, as with structuredClone.
 *
 * Values that JSON represents exactly (plain objects and dense arrays of strings, finite numbers, booleans
 * and null, each object met once) are stored as JSON text instead: a hit decodes them 2-3x faster, and the
 * result is the same. The two are told apart by the first byte: V8's format always starts with 0xFF, which
 * JSON text never does.
 */
export const v8Codec: Codec = {
  name: 'v8',
  encode: (value) => (isExactJson(value, new Set()) ? Buffer.from(JSON.stringify(value)) : serialize(value)),
  decode: (bytes) => (bytes[0] === V8_VERSION_TAG ? deserialize(bytes) : JSON.parse(bytes.toString())),
};

const V8_VERSION_TAG = 0xff;

/** v8Codec.decode of the bytes from `start` on; JSON text is decoded where it lies. */
export const readV8At: ReadAt = (bytes, start) => (bytes[start] === V8_VERSION_TAG ? deserialize(bytes.subarray(start)) : JSON.parse(bytes.toString('utf8', start)));

/** True when JSON.parse(JSON.stringify(value)) is indistinguishable from structuredClone(value). */
function isExactJson(value: unknown, seen: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (value === null) return true;
      // An object met twice is a shared or cyclic reference: JSON would copy it or fail.
      if (seen.has(value)) return false;
      seen.add(value);
      const proto = Object.getPrototypeOf(value);
      if (proto === Array.prototype) {
        const array = value as unknown[];
        if (Object.keys(array).length !== array.length) return false; // holes or extra properties
        for (let i = 0; i < array.length; i++) if (!isExactJson(array[i], seen)) return false;
        return true;
      }
      if (proto !== Object.prototype) return false; // Date, Map, typed arrays, class instances...
      for (const key in value) {
        if (key === '__proto__' || !Object.prototype.hasOwnProperty.call(value, key)) return false;
        if (!isExactJson((value as Record<string, unknown>)[key], seen)) return false;
      }
      return true;
    }
    default:
      return false; // undefined, bigint, symbol, function
  }
}
