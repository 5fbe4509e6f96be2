import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { encodeArgs, HASHED_KEY_LENGTH, MAX_KEY_LENGTH } from '../../decorators';
import { formatHead, formatKey, type KeyHead } from '../../decorators/key-format';

/*
 * Properties of the key format over generated values. Strings use a small alphabet of the characters
 * the format itself uses (quotes, separators, brackets, braces, escapes, a lone surrogate), so values
 * that look alike, the ones that could collide, come up often.
 */
const RUNS = { numRuns: 2_000 };

const text = fc.string({
  unit: fc.constantFrom('a', 'b', '1', 'n', ':', ',', '"', '\\', '{', '}', '(', ')', '<', '>', '[', ']', '=', '%', '.', '/', '@', '#', '~', ' ', 'é', '\uD800', '😀'),
  maxLength: 5,
});
const number = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double().map((n) => (Object.is(n, -0) ? 0 : n)));
const primitive = fc.oneof(text, number, fc.bigInt({ min: -3n, max: 3n }), fc.boolean(), fc.constant(null));

const { value } = fc.letrec<{ value: unknown; defined: unknown }>((tie) => ({
  // undefined only where the format keeps it (array items); object properties and trailing arguments drop it.
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('defined'), fc.constant(undefined)),
  defined: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text, tie('defined'), { maxKeys: 3, noNullPrototype: true }),
    fc.integer({ min: -1, max: 2 }).map((t) => new Date(t < 0 ? NaN : t)),
    fc.array(fc.tuple(primitive, tie('defined')), { maxLength: 3 }).map((entries) => new Map(entries)),
    fc.array(primitive, { maxLength: 3 }).map((items) => new Set(items)),
    fc.uint8Array({ maxLength: 3 }),
  ),
}));

const args = fc.array(value, { maxLength: 4 });

/**
 * Two argument lists mean the same call when equal by value once trailing undefined arguments are
 * dropped. isDeepStrictEqual is the model, except that it holds two invalid Dates unequal, where the
 * format (documented) treats every invalid Date as one value.
 */
function sameCall(a: unknown[], b: unknown[]): boolean {
  const trim = (list: unknown[]) => {
    let end = list.length;
    while (end > 0 && list[end - 1] === undefined) end--;
    return list.slice(0, end).map(model);
  };
  return isDeepStrictEqual(trim(a), trim(b));
}

class InvalidDate {}
const INVALID_DATE = new InvalidDate();

function model(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? INVALID_DATE : value;
  if (Array.isArray(value)) return value.map(model);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, model(v)]));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, model(v)]));
  }
  return value;
}

/** A copy with every object, Map and Set rebuilt in another insertion order, chosen by `seed`. */
function permuted(value: unknown, seed: number): unknown {
  let state = seed >>> 0 || 1;
  const shuffle = <T>(items: T[]): T[] => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      state = (state * 1_103_515_245 + 12_345) >>> 0;
      const j = state % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (v instanceof Map) return new Map(shuffle([...v]).map(([k, x]) => [k, copy(x)]));
    if (v instanceof Set) return new Set(shuffle([...v]));
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(shuffle(Object.entries(v)).map(([k, x]) => [k, copy(x)]));
    }
    return v;
  };
  return copy(value);
}

test('distinct argument lists never share an encoding, and equal ones always do', () => {
  fc.assert(
    fc.property(args, args, (a, b) => (encodeArgs(a) === encodeArgs(b)) === sameCall(a, b)),
    RUNS,
  );
});

test('lists that differ only slightly still differ: one value changed inside a copy', () => {
  fc.assert(
    fc.property(args, value, fc.nat(), (a, replacement, at) => {
      if (a.length === 0) return true;
      const b = [...a];
      b[at % a.length] = replacement;
      return (encodeArgs(a) === encodeArgs(b)) === sameCall(a, b);
    }),
    RUNS,
  );
});

test('permuting object keys, Map entries and Set elements never changes the encoding', () => {
  fc.assert(
    fc.property(args, fc.integer(), (a, seed) => encodeArgs(a) === encodeArgs(permuted(a, seed) as unknown[])),
    RUNS,
  );
});

test('no encoding or key contains a brace, and no key is longer than a hashed one', () => {
  const head = fc.record<KeyHead>({ name: text.filter((t) => t !== ''), className: fc.option(text, { nil: undefined }) }, { requiredKeys: ['name'] });
  fc.assert(
    fc.property(head, args, text, (h, a, custom) => {
      const keys = [formatKey(formatHead(h), { args: encodeArgs(a) }), formatKey(formatHead(h), { custom })];
      return keys.every((k) => !/[{}]/.test(k) && k.length <= Math.max(MAX_KEY_LENGTH, HASHED_KEY_LENGTH));
    }),
    RUNS,
  );
});

test('distinct heads never share a key, whatever the arguments or custom keys', () => {
  const part = fc.option(text.filter((t) => t !== ''), { nil: undefined });
  const head = fc.record<KeyHead>({ namespace: part, className: part, name: text.filter((t) => t !== ''), version: part, instance: part }, { requiredKeys: ['name'] });
  const body = fc.oneof(args.map((a) => ({ args: encodeArgs(a) })), text.map((custom) => ({ custom })));
  fc.assert(
    fc.property(head, body, head, body, (h1, b1, h2, b2) => {
      const same = formatKey(formatHead(h1), b1) === formatKey(formatHead(h2), b2);
      return !same || (isDeepStrictEqual(normalHead(h1), normalHead(h2)) && isDeepStrictEqual(b1, b2));
    }),
    RUNS,
  );
});

function normalHead(head: KeyHead): KeyHead {
  return Object.fromEntries(Object.entries(head).filter(([, v]) => v !== undefined)) as KeyHead;
}
