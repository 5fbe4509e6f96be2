import fc from 'fast-check';
import { deserialize, serialize } from 'node:v8';
import { jsonCodec, v8Codec } from '../src';

// The default codec must give back exactly what structuredClone would, whichever of its two encodings
// (JSON text for JSON-exact values, V8 otherwise) it picks. No Redis here: this is the codec alone.

const tag = (x: unknown) => Object.prototype.toString.call(x);

/** Structural equality that also checks types, holes, undefined fields, -0, NaN and shared references, across realms. */
function same(a: unknown, b: unknown, pairs = new Map<object, object>()): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (pairs.has(a)) return pairs.get(a) === b;
  pairs.set(a, b);
  if (tag(a) !== tag(b)) return false;
  if (a instanceof Object && Object.getPrototypeOf(a)?.constructor?.name !== Object.getPrototypeOf(b)?.constructor?.name) return false;
  switch (tag(a)) {
    case '[object Date]':
      return Object.is((a as Date).getTime(), (b as Date).getTime());
    case '[object RegExp]':
      return String(a) === String(b);
    case '[object Map]': {
      const x = [...(a as Map<unknown, unknown>)];
      const y = [...(b as Map<unknown, unknown>)];
      return x.length === y.length && x.every(([k, v], i) => same(k, y[i][0], pairs) && same(v, y[i][1], pairs));
    }
    case '[object Set]': {
      const x = [...(a as Set<unknown>)];
      const y = [...(b as Set<unknown>)];
      return x.length === y.length && x.every((v, i) => same(v, y[i], pairs));
    }
  }
  // The view's own bytes: node's deserializer (the reference too) may place a typed array in a shared
  // pool, whose other bytes are whatever was allocated around it.
  const bytes = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  if (ArrayBuffer.isView(a)) return ArrayBuffer.isView(b) && Buffer.compare(bytes(a), bytes(b)) === 0;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.join('\u0000') !== keysB.join('\u0000')) return false;
  if (Array.isArray(a) && (a.length !== (b as unknown[]).length)) return false;
  return keysA.every((key) => same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], pairs));
}

const roundTrip = (value: unknown) => v8Codec.decode(v8Codec.encode(value));
const reference = (value: unknown) => deserialize(serialize(value));

test('random values come back as structuredClone gives them', () => {
  fc.assert(
    fc.property(fc.anything({ withDate: true, withMap: true, withSet: true, withBigInt: true, withTypedArray: true, withSparseArray: true, withNullPrototype: false, withObjectString: true, withBoxedValues: false }), (value) => {
      expect(same(roundTrip(value), reference(value))).toBe(true);
    }),
    { numRuns: 2_000 },
  );
});

test('random JSON values take the JSON encoding and come back equal', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const bytes = v8Codec.encode(value);
      // -0 is a JSON value to fast-check but not to JSON.stringify, so it must go to V8.
      const usesJson = bytes[0] !== 0xff;
      expect(same(v8Codec.decode(bytes), reference(value))).toBe(true);
      if (usesJson) expect(JSON.parse(bytes.toString())).toEqual(value);
    }),
    { numRuns: 2_000 },
  );
});

test.each<[string, () => unknown]>([
  ['-0', () => -0],
  ['NaN and Infinity', () => [NaN, Infinity, -Infinity]],
  ['undefined fields', () => ({ a: undefined, b: 1 })],
  ['holes', () => [1, , 3]], // eslint-disable-line no-sparse-arrays
  ['extra array properties', () => Object.assign([1, 2], { extra: true })],
  ['a shared reference', () => { const shared = { x: 1 }; return { a: shared, b: shared }; }],
  ['a cycle', () => { const o: Record<string, unknown> = {}; o.self = o; return o; }],
  ['a __proto__ key', () => JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')],
  ['a Date deep inside JSON', () => ({ rows: [{ id: 1, at: new Date(0) }] })],
  ['lone surrogates', () => ({ s: '\ud800x\udfff' })],
  ['integer-like keys', () => ({ b: 1, 2: 'two', a: 3, 1: 'one' })],
  ['a class instance', () => new (class Point { x = 1; y = 2; })()],
])('edge case: %s', (_, make) => {
  expect(same(roundTrip(make()), reference(make()))).toBe(true);
});

test('functions and symbols are refused, also where JSON would have dropped them', () => {
  for (const value of [() => 1, Symbol('s'), { toJSON: () => 'x' }, { f() {} }, [Symbol('s')]]) {
    expect(() => v8Codec.encode(value)).toThrow();
  }
});

test('the JSON codec refuses what JSON cannot hold at the top level', () => {
  expect(() => jsonCodec.encode(undefined)).toThrow();
  expect(() => jsonCodec.encode(1n)).toThrow();
  expect(jsonCodec.decode(jsonCodec.encode({ a: [1, 'x'] }))).toEqual({ a: [1, 'x'] });
});
