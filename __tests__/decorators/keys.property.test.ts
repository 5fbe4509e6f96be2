import { createSecretKey } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { encodeArgs, encodeValue, HASHED_KEY_LENGTH, MAX_KEY_LENGTH, UnkeyableArgumentError } from '../../decorators';
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

/*
 * The built-ins users pass. URLs vary in spellings the parser normalises (case, default port, dot
 * segments), so equal URLs written differently come up; header names vary in case, and header values
 * use the characters HTTP combines values with.
 */
const scheme = fc.constantFrom('http', 'HTTPS', 'https');
const host = fc.constantFrom('a.example', 'A.example', 'a.example:443', 'b.example');
const urlParts = fc.tuple(text, fc.option(text), fc.option(text));
const urlOf = (s: string, h: string, [path, query, fragment]: [string, string | null, string | null]) =>
  new URL(`${s}://${h}/${path}${query === null ? '' : `?${query}`}${fragment === null ? '' : `#${fragment}`}`);
const url = fc.tuple(scheme, host, urlParts).map(([s, h, parts]) => urlOf(s, h, parts));
const paramEntries = fc.array(fc.tuple(text, text), { maxLength: 3 });
const searchParams = paramEntries.map((entries) => new URLSearchParams(entries));
const headerName = fc.constantFrom('a', 'A', 'b', 'x-id', 'set-cookie', 'Set-Cookie');
const headerValue = fc
  .string({ unit: fc.constantFrom('a', '1', ',', ' ', '=', ';', '"', '{', '}', 'é'), maxLength: 4 })
  .map((v) => v.trim());
/** The entries each generated Headers was built from, for the model and for permutations. */
const headerSource = new WeakMap<Headers, [string, string][]>();
const headersOf = (entries: [string, string][]): Headers => {
  const headers = new Headers(entries);
  headerSource.set(headers, entries);
  return headers;
};
const headerEntries = fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 });
const headers = headerEntries.map(headersOf);
const boxed = fc.oneof(
  text.map((t) => new String(t)),
  number.map((n) => new Number(n)),
  fc.boolean().map((b) => new Boolean(b)),
  fc.bigInt({ min: -3n, max: 3n }).map((n) => Object(n) as object),
);
class Point {
  constructor(readonly x: unknown, readonly y?: unknown) {}
}
const builtIn = fc.oneof(url, searchParams, headers, boxed);

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
    builtIn,
    fc.tuple(tie('value'), fc.option(primitive, { nil: undefined })).map(([x, y]) => new Point(x, y)),
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

/** What a built-in equals by value, for isDeepStrictEqual, which sees no state in URL, URLSearchParams or Headers. */
class ByValue {
  constructor(readonly kind: string, readonly value: unknown) {}
}

/**
 * Headers by the Fetch standard: names are case-insensitive and sorted; each line is trimmed of HTTP
 * whitespace; the lines of one name keep their order and combine with ', ', except Set-Cookie, whose
 * values stay apart.
 */
function headerModel(entries: [string, string][]): ByValue {
  const byName = new Map<string, string[]>();
  for (const [name, line] of entries) {
    const v = line.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    byName.set(name.toLowerCase(), [...(byName.get(name.toLowerCase()) ?? []), v]);
  }
  const names = [...byName.keys()].sort();
  return new ByValue('Headers', names.map((name) => [name, name === 'set-cookie' ? byName.get(name) : byName.get(name)!.join(', ')]));
}

function model(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? INVALID_DATE : value;
  if (value instanceof URL) return new ByValue('URL', value.href);
  if (value instanceof URLSearchParams) return new ByValue('URLSearchParams', [...value]);
  if (value instanceof Headers) return headerModel(headerSource.get(value)!);
  if (value instanceof Point) return new Point(model(value.x), value.y);
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
    if (v instanceof Headers) {
      // Names in another order and case; the values of one name keep theirs.
      const byName = new Map<string, [string, string][]>();
      for (const entry of headerSource.get(v)!) byName.set(entry[0].toLowerCase(), [...(byName.get(entry[0].toLowerCase()) ?? []), entry]);
      return headersOf(shuffle([...byName.values()]).flat().map(([name, x]) => [state % 2 === 0 ? name.toUpperCase() : name, x]));
    }
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

test('built-ins encode alike only when equal by value: URL, URLSearchParams, Headers, boxed primitives, class instances', () => {
  // Pairs of one kind, where a collision would hide, many of them a value and a variant of it; and a
  // built-in against any value.
  const variant = <T>(items: T[], how: number): T[] =>
    [items, [...items].reverse(), [...items, ...items.slice(0, 1)], items.slice(1), items.map((item, i) => items[(i + 1) % items.length])][how];
  const how = fc.integer({ min: 0, max: 4 });
  const pair = fc.oneof(
    fc.tuple(url, url),
    fc.tuple(scheme, host, scheme, host, urlParts).map(([s1, h1, s2, h2, parts]) => [urlOf(s1, h1, parts), urlOf(s2, h2, parts)]),
    fc.tuple(searchParams, searchParams),
    fc.tuple(paramEntries, how).map(([entries, h]) => [new URLSearchParams(entries), new URLSearchParams(variant(entries, h))]),
    fc.tuple(headers, headers),
    fc.tuple(headerEntries, how, fc.boolean()).map(([entries, h, combine]) => {
      // A variant, or the same fields with each name's values combined into one line (HTTP's equality).
      if (!combine) return [headersOf(entries), headersOf(variant(entries, h))];
      const lines = new Map<string, string[]>();
      for (const [name, v] of entries) lines.set(name, [...(lines.get(name) ?? []), v]);
      return [headersOf(entries), headersOf([...lines].map(([name, values]) => [name, values.join(', ')]))];
    }),
    fc.tuple(boxed, boxed),
    fc.tuple(boxed, primitive),
    fc.tuple(builtIn, value),
    fc.tuple(builtIn, builtIn),
  );
  fc.assert(
    fc.property(pair, fc.boolean(), ([x, y], swap) => {
      const [a, b] = swap ? [[y], [x]] : [[x], [y]];
      return (encodeArgs(a) === encodeArgs(b)) === sameCall(a, b);
    }),
    RUNS,
  );
});

test('permuting object keys, Map entries, Set elements and header names never changes the encoding', () => {
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

/*
 * Values whose state the encoding cannot read: inherited properties, non-enumerable or symbol-keyed own
 * properties, built-ins with internal slots, errors. Each must be refused wherever it sits, as encoding
 * them by what is visible would give every such value one key.
 */
class Hidden {
  constructor(id: unknown) {
    Object.defineProperty(this, 'id', { value: id });
  }
}
class Tagged {
  constructor(readonly id: unknown) {}
  get [Symbol.toStringTag]() {
    return 'Tagged';
  }
}
class AppError extends Error {}
class Listener extends EventTarget {
  constructor(readonly id: unknown) {
    super();
  }
}
const unkeyable = fc.oneof(
  fc.record({ id: primitive }).map((proto) => Object.create(proto) as object),
  fc.tuple(fc.record({ id: primitive }), fc.dictionary(text, primitive, { maxKeys: 2 })).map(([proto, own]) => Object.assign(Object.create(proto) as object, own)),
  primitive.map((id) => Object.defineProperty({}, 'id', { value: id })),
  primitive.map((id) => Object.defineProperty({}, Symbol('id'), { value: id })),
  primitive.map((id) => new Hidden(id)),
  primitive.map((id) => new Tagged(id)),
  primitive.map((id) => new Listener(id)),
  text.map((message) => new Error(message)),
  text.map((message) => new TypeError(message)),
  text.map((message) => new AppError(message)),
  text.map((message) => new DOMException(message, 'AbortError')),
  text.map(() => Object.create(Error.prototype) as object),
  text.map((part) => new Blob([part])),
  text.map((reason) => AbortSignal.abort(reason)),
  fc.constant(null).map(() => new AbortController()),
  fc.constant(null).map(() => new EventTarget()),
  fc.constant(null).map(() => new ReadableStream()),
  fc.constantFrom('en', 'fr').map((locale) => new Intl.NumberFormat(locale)),
  fc.constantFrom('en', 'fr').map((locale) => new Intl.Collator(locale)),
  fc.uint8Array({ minLength: 1, maxLength: 3 }).map((bytes) => createSecretKey(bytes)),
);

test('a value whose state cannot be read is refused, wherever it is inside an argument', () => {
  const placed = fc.tuple(unkeyable, fc.constantFrom('bare', 'array', 'object', 'map', 'set', 'point'), args).map(([bad, where, rest]) => {
    const inside = { bare: bad, array: [1, bad], object: { k: bad }, map: new Map([['k', bad]]), set: new Set([bad]), point: new Point(bad) }[where];
    return [...rest, inside];
  });
  fc.assert(
    fc.property(placed, (a) => {
      try {
        encodeArgs(a);
      } catch (error) {
        return error instanceof UnkeyableArgumentError;
      }
      return false;
    }),
    { numRuns: 500 },
  );
});

/*
 * Fakes of a built-in: an object with its prototype but not its internal slots, an object claiming its
 * Symbol.toStringTag, and a subclass whose readers report another value than the one the built-in holds.
 * None may take the key of the value it imitates.
 */
const realBuiltIn = fc.oneof(
  url,
  searchParams,
  headers,
  boxed,
  fc.integer({ min: 0, max: 2 }).map((t) => new Date(t)),
  fc.array(fc.tuple(primitive, primitive), { maxLength: 2 }).map((entries) => new Map(entries)),
  fc.array(primitive, { maxLength: 2 }).map((items) => new Set(items)),
  fc.tuple(fc.constantFrom('a', 'b+', '.'), fc.constantFrom('', 'g', 'i', 'gi')).map(([source, flags]) => new RegExp(source, flags)),
  fc.uint8Array({ maxLength: 2 }).map((bytes) => new Uint16Array(bytes)),
  fc.uint8Array({ maxLength: 2 }).map((bytes) => new Int8Array(bytes)),
);

function tagOf(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** A subclass of the built-in `real` is an instance of, holding `held`, whose own readers report `real`'s value. */
function liar(real: object): object {
  // A typed array lies from another class (a Uint8Array reporting itself a Uint16Array, same bytes).
  const other = ArrayBuffer.isView(real) && !(real instanceof Uint8Array);
  const Base = (other ? Uint8Array : real.constructor) as new (...args: unknown[]) => object;
  const Sub = { [Base.name]: class extends Base {} }[Base.name];
  const forward = (name: PropertyKey) => ({ value: (...rest: unknown[]) => (real as Record<PropertyKey, (...a: unknown[]) => unknown>)[name as string](...rest) });
  const readers: PropertyDescriptorMap = {
    [Symbol.iterator]: { value: () => (real as Iterable<unknown>)[Symbol.iterator]() },
    valueOf: forward('valueOf'),
    toString: forward('toString'),
    toJSON: { value: () => JSON.parse(JSON.stringify(real)) as unknown },
  };
  for (const name of ['entries', 'values', 'getTime', 'toISOString', 'get', 'getSetCookie', 'has']) {
    if (typeof (real as Record<string, unknown>)[name] === 'function') readers[name] = forward(name);
  }
  for (const name of ['href', 'source', 'flags', 'byteLength', 'byteOffset', 'buffer', 'size']) {
    if (name in real) readers[name] = { get: () => (real as Record<string, unknown>)[name] };
  }
  readers[Symbol.toStringTag] = { get: () => tagOf(real) };
  Object.defineProperties(Sub.prototype, readers);
  let held: unknown[];
  if (real instanceof URL) held = ['https://held.example/'];
  else if (real instanceof URLSearchParams) held = ['held=1'];
  else if (real instanceof Headers) held = [{ held: '1' }];
  else if (real instanceof Date) held = [7];
  else if (real instanceof Map) held = [[['held', 1]]];
  else if (real instanceof Set) held = [['held']];
  else if (real instanceof RegExp) held = ['held', 'y'];
  else if (other) held = [new Uint8Array(real.buffer, real.byteOffset, real.byteLength)];
  else if (ArrayBuffer.isView(real)) held = [[7, 7, 7]];
  else {
    const inner = real.valueOf();
    if (typeof inner === 'bigint') return Object(99n) as object; // BigInt cannot be subclassed
    held = [typeof inner === 'string' ? 'held' : typeof inner === 'boolean' ? !inner : inner === 7 ? 8 : 7];
  }
  return new Sub(...held);
}

const fake = fc.tuple(realBuiltIn, fc.constantFrom('prototype', 'tag', 'liar')).map(([real, how]) => {
  if (how === 'prototype') return { real, fake: Object.create(Object.getPrototypeOf(real)) as object };
  if (how === 'tag') {
    const claim = tagOf(real);
    const Look = { [claim]: class {} }[claim];
    Object.defineProperty(Look.prototype, Symbol.toStringTag, { get: () => claim });
    return { real, fake: new Look() };
  }
  return { real, fake: liar(real) };
});

test('no fake of a built-in takes the key of the value it imitates: it is refused or encodes apart', () => {
  fc.assert(
    fc.property(fake, ({ real, fake: imitation }) => {
      let encoded: string;
      try {
        encoded = encodeValue(imitation);
      } catch (error) {
        return error instanceof UnkeyableArgumentError;
      }
      return encoded !== encodeValue(real);
    }),
    RUNS,
  );
});
