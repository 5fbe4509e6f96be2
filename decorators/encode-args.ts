import { types } from 'node:util';
import { UnkeyableArgumentError } from './errors';
import { escapeName } from './escape';

/*
 * Arguments become a key by value. Invariants:
 * - injective: every encoding starts with a prefix that tells its type and is self-delimiting, so two
 *   argument lists encode alike only if they are equal by value (1 and '1', ('a:b') and ('a','b') differ);
 * - order-free where the value is: object keys are sorted, Map entries and Set elements are sorted by
 *   their encodings, so {a:1,b:2} and {b:2,a:1} agree;
 * - undefined where JavaScript treats it as absence is absent: trailing undefined arguments are dropped
 *   (f() and f(undefined) share a key, as default parameters do) and so are undefined object properties;
 * - no braces: they are written as \u007b and \u007d inside strings and never used as punctuation, so
 *   the key is the whole Redis Cluster hash tag.
 *
 *   "text" JSON string   1  -2.5  NaN  Infinity  (-0 is 0)   12n   true  null  undefined
 *   [a,b]  array (a hole is undefined)        <"k":v,...>  plain object
 *   Date(2024-01-01T00:00:00.000Z) Date(NaN)  Map[k=>v,...]  Set[a,...]  RegExp("src","flags")
 *   Uint8Array(0aff)  (any typed array, DataView, ArrayBuffer, Buffer: the bytes in hex)
 *   Object(1)  (a boxed primitive)            new Point<"x":1>  new Money("12.50")  (a class instance:
 *   its own enumerable properties, or its toJSON() when it has one)
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
    // util.types checks work across realms (vm contexts, test sandboxes), unlike instanceof.
    if (types.isDate(value)) {
      const time = value.getTime();
      return Number.isNaN(time) ? 'Date(NaN)' : `Date(${value.toISOString()})`;
    }
    if (types.isMap(value)) {
      let i = 0;
      const entries = [...value].map(([k, v]) => {
        const at = `${path}<entry ${i++}>`;
        return this.value(k, `${at}.key`) + '=>' + this.value(v, `${at}.value`);
      });
      return 'Map[' + entries.sort().join(',') + ']';
    }
    if (types.isSet(value)) {
      let i = 0;
      return 'Set[' + [...value].map((v) => this.value(v, `${path}<element ${i++}>`)).sort().join(',') + ']';
    }
    if (types.isRegExp(value)) return `RegExp(${quote(value.source)},${quote(value.flags)})`;
    if (ArrayBuffer.isView(value)) {
      const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      return `${tag(value)}(${bytes.toString('hex')})`;
    }
    if (types.isAnyArrayBuffer(value)) return `${tag(value)}(${Buffer.from(value).toString('hex')})`;
    if (types.isBoxedPrimitive(value)) return `Object(${this.value(value.valueOf(), `${path}.valueOf()`)})`;
    const opaque = opaqueKind(value);
    if (opaque) throw this.unkeyable(path, opaque);
    const proto = Object.getPrototypeOf(value) as object | null;
    if (isPlainPrototype(proto)) return '<' + this.properties(value, path) + '>';
    const name = escapeName(constructorName(proto));
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return `new ${name}(${this.value(toJSON.call(value), `${path}.toJSON()`)})`;
    return `new ${name}<${this.properties(value, path)}>`;
  }

  private properties(value: object, path: string): string {
    const symbols = Object.getOwnPropertySymbols(value).filter((s) => Object.prototype.propertyIsEnumerable.call(value, s));
    if (symbols.length > 0) throw this.unkeyable(`${path}[${symbols[0].toString()}]`, 'a property keyed by a symbol');
    const fields: string[] = [];
    for (const name of Object.keys(value).sort()) {
      const field = (value as Record<string, unknown>)[name];
      if (field === undefined) continue;
      fields.push(quote(name) + ':' + this.value(field, IDENTIFIER.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`));
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

/** The built-in tag (Uint8Array for a Buffer too): fixed names, so a user class cannot imitate one. */
function tag(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
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

function isPlainPrototype(proto: object | null): boolean {
  if (proto === null || proto === Object.prototype) return true;
  // Object.prototype of another realm.
  return Object.getPrototypeOf(proto) === null && (proto as { constructor?: { name?: unknown } }).constructor?.name === 'Object';
}

function constructorName(proto: object | null): string {
  const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'anonymous';
}
