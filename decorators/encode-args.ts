import { types } from 'node:util';
import { UnkeyableArgumentError } from './errors';
import { escapeName } from './escape';

/*
 * Arguments become a key by value. Invariants:
 * - injective: every encoding starts with a prefix that tells its type and is self-delimiting, so two
 *   argument lists encode alike only if they are equal by value (1 and '1', ('a:b') and ('a','b') differ);
 * - a built-in's prefix cannot be imitated: built-ins are written without `new` and under fixed names,
 *   class instances with `new` and their class's name; an object that claims a built-in's
 *   Symbol.toStringTag without being one is refused;
 * - a built-in is recognised by its internal slots (util.types, or one of its own methods, which throws
 *   on anything else) and read through its prototype's methods, captured when this module loads, never
 *   through the object's: a subclass or an own property that overrides valueOf, getTime, an iterator,
 *   flags, byteLength, href, get... cannot change the key;
 * - no object is encoded by less than the state it has. One that is neither an array nor a built-in
 *   read above, and has no toJSON(), is encoded by its own enumerable string-keyed properties only when
 *   they are all its state, and refused otherwise:
 *   - it has a non-enumerable or a symbol-keyed own property;
 *   - a prototype on its chain, up to Object.prototype, is not a class's (Object.create({ id: 1 }):
 *     its state is inherited);
 *   - a built-in class is on its chain (Blob, AbortSignal, EventTarget, ReadableStream, KeyObject,
 *     Intl.*, FinalizationRegistry...: the state is in internal slots or private fields). A built-in is
 *     a class whose constructor is native code, or whose prototype carries a Symbol.toStringTag, as
 *     every Web API class does; so is an object whose toStringTag is not 'Object' (a class of one's
 *     own that sets one needs a toJSON()).
 *   An object with a toJSON() is encoded by what toJSON() returns, whatever its prototype, except
 *   Errors (DOMException and subclasses too), refused with a toJSON() or not, and an object whose
 *   toJSON() is native code (Date's, on Object.create(Date.prototype)): every engine built-in that has
 *   a value is read by its slots above, so such an object only has the prototype. Private #fields
 *   cannot be seen at all: a class that keeps its state in them needs a toJSON(). (An array or a
 *   built-in read above is encoded by its elements or value alone: properties added to it, or a
 *   subclass's fields, are not in the key.);
 * - order-free where the value is: object keys are sorted, Map entries and Set elements are sorted by
 *   their encodings, header names are sorted, so {a:1,b:2} and {b:2,a:1} agree. URLSearchParams entries
 *   are not sorted (a query string's order can matter: repeated names, signed URLs); sort() them first
 *   for order-free keys;
 * - undefined where JavaScript treats it as absence is absent: trailing undefined arguments are dropped
 *   (f() and f(undefined) share a key, as default parameters do) and so are undefined object properties;
 * - no braces: they are written as \u007b and \u007d inside strings and never used as punctuation, so
 *   the key is the whole Redis Cluster hash tag.
 *
 *   "text" JSON string   1  -2.5  NaN  Infinity  (-0 is 0)   12n   true  null  undefined
 *   [a,b]  array (a hole is undefined)        <"k":v,...>  plain object (prototype Object.prototype or null)
 *   Date(2024-01-01T00:00:00.000Z) Date(NaN)  Map[k=>v,...]  Set[a,...]  RegExp("src","flags")
 *   Uint8Array(0aff)  (any typed array, DataView, ArrayBuffer, Buffer: the bytes in hex)
 *   Object(1)  (a boxed primitive: Object("a") is not "a")
 *   URL("https://a.example/x?q=1")  (its href, so spellings of one URL agree)
 *   URLSearchParams["a"="1","a"="2"]  (its entries in order, repeated names kept)
 *   Headers["accept"="a, b","set-cookie"="x=1","set-cookie"="y=2"]  (names lower-cased and sorted; the
 *     values of a name in order, combined with ', ' as HTTP combines them, so append('a','1') and
 *     append('a','2') equal set('a','1, 2'); Set-Cookie values kept apart, from getSetCookie())
 *   new Point<"x":1>  new Money("12.50")  (a class instance: its own enumerable properties, or its
 *   toJSON() when it has one)
 */
/**
 * The `(...)` part of a key: `args` encoded by value, as cached functions and methods encode their
 * arguments (the README's key format lists every encoding). Equal argument lists give equal strings,
 * different ones different strings.
 *
 * @param target - The name an error gives as the function called. Default `'encodeArgs'`.
 * @throws An {@link UnkeyableArgumentError} for an argument that cannot be part of a key.
 *
 * @example
 * ```ts
 * encodeArgs(['42', { limit: 5 }]); // '("42",<"limit":5>)'
 * ```
 */
export function encodeArgs(args: readonly unknown[], target = 'encodeArgs'): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  const parts: string[] = [];
  for (let index = 0; index < end; index++) {
    parts.push(new Encoder(target, index).value(args[index], `args[${index}]`));
  }
  return '(' + parts.join(',') + ')';
}

/** One value, for tests and tools; the same encoding as an argument. */
export function encodeValue(value: unknown): string {
  return new Encoder('encodeValue', 0).value(value, 'value');
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

class Encoder {
  // The objects on the path from the argument to the current value: a repeat is a cycle. Shared
  // references that are not cycles are fine and encode twice.
  private readonly ancestors = new Set<object>();

  constructor(private readonly target: string, private readonly index: number) {}

  value(value: unknown, path: string): string {
    switch (typeof value) {
      case 'string':
        return quote(value);
      case 'number':
        return String(value); // String(-0) is '0'
      case 'bigint':
        return `${value}n`;
      case 'boolean':
        return String(value);
      case 'undefined':
        return 'undefined';
      case 'symbol':
        throw this.unkeyable(path, `a symbol (${value.toString()})`);
      case 'function':
        throw this.unkeyable(path, `a function${value.name ? ` (${value.name})` : ''}`);
    }
    if (value === null) return 'null';
    const object = value as object;
    if (this.ancestors.has(object)) throw this.unkeyable(path, 'a cyclic object (it contains itself)');
    this.ancestors.add(object);
    try {
      return this.object(object, path);
    } finally {
      this.ancestors.delete(object);
    }
  }

  private object(value: object, path: string): string {
    if (Array.isArray(value)) {
      const items: string[] = [];
      for (let i = 0; i < value.length; i++) items.push(this.value(value[i], `${path}[${i}]`));
      return '[' + items.join(',') + ']';
    }
    const slots = this.slots(value, path);
    if (slots !== undefined) return slots;
    const opaque = opaqueKind(value);
    if (opaque) throw this.unkeyable(path, opaque);
    const proto = Object.getPrototypeOf(value) as object | null;
    if (isPlainPrototype(proto)) return '<' + this.properties(value, path) + '>';
    const chain = inspectChain(proto);
    const claimed = tag(value);
    const web = this.web(value, [claimed, ...chain.tags], path);
    if (web !== undefined) return web;
    if (chain.error) throw this.unkeyable(path, 'an Error');
    const name = escapeName(constructorName(proto));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // A toJSON() of native code is an engine built-in's (Date's), reading a slot: the built-ins that have
      // one are read above, so this object only has the prototype (Object.create(Date.prototype)).
      if (chain.native !== undefined && isNative(toJSON as () => unknown)) {
        throw this.unkeyable(path, `an object that claims to be ${article(chain.native)} ${chain.native} (by its prototype) but is not one`);
      }
      return `new ${name}(${this.value(toJSON.call(value), `${path}.toJSON()`)})`;
    }
    if (chain.inherits) {
      throw this.unkeyable(
        path,
        "an object that inherits from an object that is not a class's prototype (Object.create(...)): " +
          'the properties it inherits would not be in the key; pass a plain object with the fields the call depends on',
      );
    }
    const builtIn = claimed !== 'Object' ? claimed : (chain.tags[0] ?? chain.native);
    if (builtIn !== undefined) {
      throw this.unkeyable(path, `${article(builtIn)} ${builtIn}, whose state is internal and the key cannot read it (a class of your own can define toJSON())`);
    }
    return `new ${name}<${this.properties(value, path)}>`;
  }

  /** Built-ins with internal slots that util.types recognises, read through their prototypes' methods. */
  private slots(value: object, path: string): string | undefined {
    // util.types checks work across realms (vm contexts, test sandboxes), unlike instanceof.
    if (types.isDate(value)) {
      const time = intrinsic.dateTime.call(value);
      return Number.isNaN(time) ? 'Date(NaN)' : `Date(${intrinsic.dateISO.call(value)})`;
    }
    if (types.isMap(value)) {
      let i = 0;
      const entries = [...intrinsic.mapEntries.call(value)].map(([k, v]) => {
        const at = `${path}<entry ${i++}>`;
        return this.value(k, `${at}.key`) + '=>' + this.value(v, `${at}.value`);
      });
      return 'Map[' + entries.sort().join(',') + ']';
    }
    if (types.isSet(value)) {
      let i = 0;
      return 'Set[' + [...intrinsic.setValues.call(value)].map((v) => this.value(v, `${path}<element ${i++}>`)).sort().join(',') + ']';
    }
    if (types.isRegExp(value)) {
      const flags = intrinsic.regExpFlags.map(([letter, get]) => (get.call(value) ? letter : '')).join('');
      return `RegExp(${quote(intrinsic.regExpSource.call(value) as string)},${quote(flags)})`;
    }
    if (types.isTypedArray(value)) {
      const bytes = hex(intrinsic.typedBuffer.call(value), intrinsic.typedOffset.call(value), intrinsic.typedLength.call(value));
      return `${intrinsic.typedName.call(value)}(${bytes})`;
    }
    if (types.isDataView(value)) {
      return `DataView(${hex(intrinsic.viewBuffer.call(value), intrinsic.viewOffset.call(value), intrinsic.viewLength.call(value))})`;
    }
    if (types.isArrayBuffer(value)) return `ArrayBuffer(${hex(value, 0, intrinsic.bufferLength.call(value))})`;
    if (types.isSharedArrayBuffer(value)) return `SharedArrayBuffer(${hex(value, 0, intrinsic.sharedLength!.call(value))})`;
    if (types.isBoxedPrimitive(value)) return `Object(${this.value(unbox(value), `${path}.valueOf()`)})`;
    return undefined;
  }

  /**
   * URL, URLSearchParams and Headers, when the object or its chain names one of them. Their state is in
   * private fields; a method of the built-in's prototype reads it, and throws on an object that only
   * claims the name, which is refused.
   */
  private web(value: object, tags: readonly string[], path: string): string | undefined {
    const kind = tags.find((t): t is WebKind => t === 'URL' || t === 'URLSearchParams' || t === 'Headers');
    if (kind === undefined) return undefined;
    const encoded = kind === 'URL' ? encodeURL(value) : kind === 'URLSearchParams' ? encodeSearchParams(value) : encodeHeaders(value);
    if (encoded === undefined) throw this.unkeyable(path, `an object that claims to be ${article(kind)} ${kind} (by its Symbol.toStringTag) but is not one`);
    if (encoded === SET_COOKIE_UNREADABLE) {
      throw this.unkeyable(path, 'a Headers with Set-Cookie, whose values this Node cannot read apart (Headers.prototype.getSetCookie is missing)');
    }
    return encoded;
  }

  private properties(value: object, path: string): string {
    const names: string[] = [];
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'symbol') throw this.unkeyable(`${path}[${key.toString()}]`, 'a property keyed by a symbol');
      if (!Object.prototype.propertyIsEnumerable.call(value, key)) {
        throw this.unkeyable(fieldPath(path, key), 'a non-enumerable property, which the key would not see; make it enumerable, or give the object a toJSON()');
      }
      names.push(key);
    }
    const fields: string[] = [];
    for (const name of names.sort()) {
      const field = (value as Record<string, unknown>)[name];
      if (field === undefined) continue;
      fields.push(quote(name) + ':' + this.value(field, fieldPath(path, name)));
    }
    return fields.join(',');
  }

  private unkeyable(path: string, what: string): UnkeyableArgumentError {
    return new UnkeyableArgumentError(this.target, this.index, path, what);
  }
}

/** JSON.stringify is injective on strings and escapes lone surrogates; the result stays valid JSON. */
function quote(text: string): string {
  return JSON.stringify(text).replace(/[{}]/g, (brace) => (brace === '{' ? '\\u007b' : '\\u007d'));
}

function fieldPath(path: string, name: string): string {
  return IDENTIFIER.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** Object.prototype.toString's tag, which reads Symbol.toStringTag: a claim, not a proof. */
function tag(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

function article(name: string): string {
  return /^[AEIOU]/i.test(name) ? 'an' : 'a';
}

type Getter = (this: unknown) => unknown;

function getter(proto: object, name: PropertyKey): Getter {
  return Object.getOwnPropertyDescriptor(proto, name)!.get as Getter;
}

// The built-ins' own readers, captured now, so no later override on an object or its class is called.
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = {
  dateTime: Date.prototype.getTime as (this: unknown) => number,
  dateISO: Date.prototype.toISOString as (this: unknown) => string,
  mapEntries: Map.prototype.entries as (this: unknown) => IterableIterator<[unknown, unknown]>,
  setValues: Set.prototype.values as (this: unknown) => IterableIterator<unknown>,
  regExpSource: getter(RegExp.prototype, 'source'),
  // In the order of RegExp.prototype.flags; the ones this Node knows.
  regExpFlags: (
    [['d', 'hasIndices'], ['g', 'global'], ['i', 'ignoreCase'], ['m', 'multiline'], ['s', 'dotAll'], ['u', 'unicode'], ['v', 'unicodeSets'], ['y', 'sticky']] as const
  ).flatMap(([letter, name]) => (Object.getOwnPropertyDescriptor(RegExp.prototype, name)?.get ? [[letter, getter(RegExp.prototype, name)] as const] : [])),
  typedName: getter(TYPED_ARRAY, Symbol.toStringTag) as (this: unknown) => string,
  typedBuffer: getter(TYPED_ARRAY, 'buffer') as (this: unknown) => ArrayBufferLike,
  typedOffset: getter(TYPED_ARRAY, 'byteOffset') as (this: unknown) => number,
  typedLength: getter(TYPED_ARRAY, 'byteLength') as (this: unknown) => number,
  viewBuffer: getter(DataView.prototype, 'buffer') as (this: unknown) => ArrayBufferLike,
  viewOffset: getter(DataView.prototype, 'byteOffset') as (this: unknown) => number,
  viewLength: getter(DataView.prototype, 'byteLength') as (this: unknown) => number,
  bufferLength: getter(ArrayBuffer.prototype, 'byteLength') as (this: unknown) => number,
  sharedLength: typeof SharedArrayBuffer === 'function' ? (getter(SharedArrayBuffer.prototype, 'byteLength') as (this: unknown) => number) : undefined,
  number: Number.prototype.valueOf as (this: unknown) => number,
  string: String.prototype.valueOf as (this: unknown) => string,
  boolean: Boolean.prototype.valueOf as (this: unknown) => boolean,
  bigint: BigInt.prototype.valueOf as (this: unknown) => bigint,
  symbol: Symbol.prototype.valueOf as (this: unknown) => symbol,
  urlHref: getter(URL.prototype, 'href') as (this: unknown) => string,
  searchParamsEntries: URLSearchParams.prototype.entries as (this: unknown) => IterableIterator<[string, string]>,
};

function hex(buffer: ArrayBufferLike, offset: number, length: number): string {
  return Buffer.from(buffer, offset, length).toString('hex');
}

function unbox(value: object): unknown {
  if (types.isNumberObject(value)) return intrinsic.number.call(value);
  if (types.isStringObject(value)) return intrinsic.string.call(value);
  if (types.isBooleanObject(value)) return intrinsic.boolean.call(value);
  if (types.isBigIntObject(value)) return intrinsic.bigint.call(value);
  return intrinsic.symbol.call(value);
}

type WebKind = 'URL' | 'URLSearchParams' | 'Headers';
const SET_COOKIE_UNREADABLE = '\0set-cookie';

/** Each encoder returns undefined for an object that is not the built-in (its method threw). */
function encodeURL(value: object): string | undefined {
  let href: string;
  try {
    href = intrinsic.urlHref.call(value);
  } catch {
    return undefined;
  }
  return `URL(${quote(href)})`;
}

function encodeSearchParams(value: object): string | undefined {
  let entries: IterableIterator<[string, string]>;
  try {
    entries = intrinsic.searchParamsEntries.call(value);
  } catch {
    return undefined;
  }
  return 'URLSearchParams[' + [...entries].map(([k, v]) => quote(k) + '=' + quote(v)).join(',') + ']';
}

interface HeadersMethods {
  keys(this: unknown): IterableIterator<string>;
  get(this: unknown, name: string): string | null;
  getSetCookie?(this: unknown): string[];
}

// Read from the global when first needed: in Node it is loaded on first use.
let headersMethods: HeadersMethods | undefined;

function encodeHeaders(value: object): string | undefined {
  if (headersMethods === undefined) {
    const global = (globalThis as { Headers?: { prototype: HeadersMethods } }).Headers;
    if (global === undefined) return undefined;
    const { keys, get, getSetCookie } = global.prototype;
    headersMethods = { keys, get, getSetCookie };
  }
  const { keys, get, getSetCookie } = headersMethods;
  let names: string[];
  try {
    names = [...new Set(keys.call(value))].sort(); // lower-cased by Headers
  } catch {
    return undefined;
  }
  const entries: string[] = [];
  for (const name of names) {
    if (name !== 'set-cookie') entries.push(quote(name) + '=' + quote(get.call(value, name) ?? ''));
    else if (getSetCookie === undefined) return SET_COOKIE_UNREADABLE;
    else for (const cookie of getSetCookie.call(value)) entries.push(quote(name) + '=' + quote(cookie));
  }
  return 'Headers[' + entries.join(',') + ']';
}

/** Objects whose value lives in internal state that cannot be read, so every instance would share one key. */
function opaqueKind(value: object): string | undefined {
  if (types.isPromise(value)) return 'a Promise (await it before the call)';
  if (types.isWeakMap(value) || types.isWeakSet(value)) return `a ${tag(value)} (its contents cannot be read)`;
  if (types.isNativeError(value)) return 'an Error';
  const kind = tag(value);
  if (kind === 'WeakRef' || kind === 'Generator' || kind === 'AsyncGenerator') return `a ${kind}`;
  return undefined;
}

interface Chain {
  /** Error.prototype, of any realm, is on the chain (a DOMException, Object.create(Error.prototype)). */
  error: boolean;
  /** A prototype on the chain is not a class's: its own constructor does not point back to it. */
  inherits: boolean;
  /** The Symbol.toStringTag values the chain's prototypes carry as data properties, nearest first. */
  tags: string[];
  /** The name of the nearest class on the chain whose constructor is native code. */
  native?: string;
}

/** The prototypes from `proto` up to Object.prototype (of any realm) or null. */
function inspectChain(proto: object | null): Chain {
  const chain: Chain = { error: false, inherits: false, tags: [] };
  for (let at = proto; at !== null && !isPlainPrototype(at); at = Object.getPrototypeOf(at) as object | null) {
    const claim = Object.getOwnPropertyDescriptor(at, Symbol.toStringTag)?.value as unknown;
    if (typeof claim === 'string') chain.tags.push(claim);
    const constructor = ownConstructor(at);
    if (constructor === undefined) chain.inherits = true;
    else if (isNative(constructor)) {
      if (constructor.name === 'Error') chain.error = true;
      chain.native ??= constructor.name || 'built-in object';
    }
  }
  return chain;
}

/** The class whose prototype `proto` is, if `proto` is one. */
function ownConstructor(proto: object): ((...args: never[]) => unknown) | undefined {
  const constructor = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value as unknown;
  return typeof constructor === 'function' && constructor.prototype === proto ? (constructor as (...args: never[]) => unknown) : undefined;
}

const nativeCache = new WeakMap<object, boolean>();

/** Native code: a built-in of the engine or of Node's C++ (user code cannot print as native code). */
function isNative(fn: (...args: never[]) => unknown): boolean {
  let native = nativeCache.get(fn);
  if (native === undefined) {
    native = /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn));
    nativeCache.set(fn, native);
  }
  return native;
}

function isPlainPrototype(proto: object | null): boolean {
  if (proto === null || proto === Object.prototype) return true;
  // Object.prototype of another realm.
  if (Object.getPrototypeOf(proto) !== null) return false;
  const constructor = ownConstructor(proto);
  return constructor !== undefined && constructor.name === 'Object' && isNative(constructor);
}

function constructorName(proto: object | null): string {
  const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'anonymous';
}
