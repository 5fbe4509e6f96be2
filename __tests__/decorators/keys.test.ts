import { encodeArgs, encodeValue, HASHED_KEY_LENGTH, MAX_KEY_LENGTH, UnkeyableArgumentError } from '../../decorators';
import { formatHead, formatKey } from '../../decorators/key-format';

// The key format without Redis: what is equal, what is distinct, what is refused.
const key = (...args: unknown[]) => encodeArgs(args);

describe('argument encoding', () => {
  test('separators and types inside values never merge arguments', () => {
    expect(key('a:b')).not.toBe(key('a', 'b'));
    expect(key('a,b')).not.toBe(key('a', 'b'));
    expect(key('a","b')).not.toBe(key('a', 'b'));
    expect(key(1)).not.toBe(key('1'));
    expect(key(1)).not.toBe(key(1n));
    expect(key(true)).not.toBe(key('true'));
    expect(key(null)).not.toBe(key('null'));
    expect(key([1, 2])).not.toBe(key(1, 2));
    expect(key(['a'])).not.toBe(key({ 0: 'a' }));
    expect(key([])).not.toBe(key({}));
  });

  test('object keys are order-free, and so are Map entries and Set elements', () => {
    expect(key({ a: 1, b: 2 })).toBe(key({ b: 2, a: 1 }));
    expect(key({ outer: { x: [1, { p: 1, q: 2 }], y: 2 } })).toBe(key({ outer: { y: 2, x: [1, { q: 2, p: 1 }] } }));
    expect(key(new Map([['a', 1], ['b', 2]]))).toBe(key(new Map([['b', 2], ['a', 1]])));
    expect(key(new Set([1, 2, 3]))).toBe(key(new Set([3, 1, 2])));
    expect(key([1, 2])).not.toBe(key([2, 1]));
  });

  test('undefined: trailing arguments and object properties that are undefined are absent', () => {
    expect(key()).toBe('()');
    expect(key(undefined)).toBe(key());
    expect(key(1, undefined)).toBe(key(1));
    expect(key(undefined, 1)).not.toBe(key(1));
    expect(key({ a: undefined, b: 1 })).toBe(key({ b: 1 }));
    expect(key([undefined])).not.toBe(key([]));
    expect(key(null)).not.toBe(key());
  });

  test('Date, Map, Set, BigInt, RegExp and bytes encode by value', () => {
    expect(key(new Date('2024-01-01T00:00:00Z'))).toBe(key(new Date(Date.UTC(2024, 0, 1))));
    expect(key(new Date(0))).not.toBe(key(new Date(1)));
    expect(key(new Date(0))).not.toBe(key(0));
    expect(key(new Date(NaN))).toBe(key(new Date('not a date')));
    expect(key(new Map([[1, 'a']]))).not.toBe(key(new Map([['1', 'a']])));
    expect(key(new Set(['a']))).not.toBe(key(['a']));
    expect(key(10n ** 30n)).toBe(key(BigInt('1000000000000000000000000000000')));
    expect(key(/a+/g)).not.toBe(key(/a+/i));
    expect(key(Buffer.from('hi'))).toBe(key(new Uint8Array([0x68, 0x69])));
    expect(key(new Uint8Array([1]))).not.toBe(key(new Uint16Array([1])));
    expect(key(Object(1))).not.toBe(key(Object(2)));
    expect(key(-0)).toBe(key(0));
    expect(key(NaN)).toBe(key(Number('x')));
  });

  test('class instances keep their class; toJSON is used when a class has one', () => {
    class Point {
      constructor(readonly x: number, readonly y: number) {}
    }
    class Money {
      constructor(private readonly cents: number) {}
      toJSON() {
        return (this.cents / 100).toFixed(2);
      }
    }
    expect(key(new Point(1, 2))).toBe('(new Point<"x":1,"y":2>)');
    expect(key(new Point(1, 2))).not.toBe(key({ x: 1, y: 2 }));
    expect(key(new Money(1250))).toBe('(new Money("12.50"))');
    expect(key(new Money(1250))).not.toBe(key(new Money(1251)));
  });

  test('a readable, brace-free encoding', () => {
    expect(key('42', { limit: 10, sort: 'name' }, [1, 2n], new Date(0))).toBe('("42",<"limit":10,"sort":"name">,[1,2n],Date(1970-01-01T00:00:00.000Z))');
    expect(key('{tag}', { '}': '{' })).toBe('("\\u007btag\\u007d",<"\\u007d":"\\u007b">)');
    expect(encodeValue('\uD800')).toBe('"\\ud800"');
  });

  test('arguments that cannot be keyed are refused with their position and path', () => {
    const cases: [unknown[], number, string, RegExp][] = [
      [[1, () => 1], 1, 'args[1]', /is a function/],
      [[{ filter: { callback: function named() {} } }], 0, 'args[0].filter.callback', /is a function \(named\)/],
      [[Symbol('s')], 0, 'args[0]', /is a symbol/],
      [['x', { [Symbol('k')]: 1 }], 1, 'args[1][Symbol(k)]', /keyed by a symbol/],
      [[Promise.resolve(1)], 0, 'args[0]', /is a Promise/],
      [[new WeakMap()], 0, 'args[0]', /WeakMap/],
      [[new Error('e')], 0, 'args[0]', /is an Error/],
      [[new Map([['k', () => 1]])], 0, 'args[0]<entry 0>.value', /is a function/],
      [[{ 'odd key': [() => 1] }], 0, 'args[0]["odd key"][0]', /is a function/],
    ];
    for (const [args, index, path, what] of cases) {
      let thrown: unknown;
      try {
        encodeArgs(args, 'Svc.method');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(UnkeyableArgumentError);
      expect(thrown).toMatchObject({ index, path, target: 'Svc.method', code: 'ERR_HERDLESS_UNKEYABLE_ARGUMENT' });
      expect((thrown as Error).message).toMatch(what);
      expect((thrown as Error).message).toContain(`argument ${index + 1} (${path})`);
      expect((thrown as Error).message).toContain('key option');
    }
  });

  test('URL, URLSearchParams and Headers encode by value', () => {
    // The collisions an encoding by own enumerable properties had: these keep their state in private fields.
    expect(key(new URLSearchParams('id=1'))).not.toBe(key(new URLSearchParams('id=2')));
    expect(key(new Headers({ id: '1' }))).not.toBe(key(new Headers({ id: '2' })));
    expect(key(new URL('https://a.example/?id=1'))).not.toBe(key(new URL('https://a.example/?id=2')));
    expect(key(new URL('https://a.example/x?id=1#top'))).toBe('(URL("https://a.example/x?id=1#top"))');
    expect(key(new URLSearchParams('b=2&a=1&a=%7B'))).toBe('(URLSearchParams["b"="2","a"="1","a"="\\u007b"])');
    expect(key(new Headers([['Set-Cookie', 'a=1'], ['Accept', 'x'], ['set-cookie', 'b=2']]))).toBe('(Headers["accept"="x","set-cookie"="a=1","set-cookie"="b=2"])');

    // URL: its href, so spellings of one URL agree.
    expect(key(new URL('HTTPS://A.example:443/./x'))).toBe(key(new URL('https://a.example/x')));
    expect(key(new URL('https://a.example/'))).not.toBe(key('https://a.example/'));
    // URLSearchParams: its entries in order, duplicates kept; not sorted, as a query string's order can matter.
    expect(key(new URLSearchParams('a=1&b=2'))).toBe(key(new URLSearchParams({ a: '1', b: '2' })));
    expect(key(new URLSearchParams('a=1&b=2'))).not.toBe(key(new URLSearchParams('b=2&a=1')));
    expect(key(new URLSearchParams('a=1&a=1'))).not.toBe(key(new URLSearchParams('a=1')));
    expect(key(new URLSearchParams('a=1'))).not.toBe(key(new URLSearchParams('a=1').toString()));
    // Headers: names are case-insensitive and order-free; the values of one name keep their order and
    // combine as HTTP combines them, except Set-Cookie, whose values stay apart.
    expect(key(new Headers({ A: '1', b: '2' }))).toBe(key(new Headers([['b', '2'], ['a', '1']])));
    const appended = new Headers();
    appended.append('a', '1');
    appended.append('A', '2');
    expect(key(appended)).toBe(key(new Headers({ a: '1, 2' })));
    expect(key(appended)).not.toBe(key(new Headers({ a: '2, 1' })));
    expect(key(new Headers([['set-cookie', 'x=1'], ['set-cookie', 'y=2']]))).not.toBe(key(new Headers([['set-cookie', 'x=1, y=2']])));
    expect(key(new Headers())).not.toBe(key(new URLSearchParams()));

    // A class of the same name does not take the built-in's key.
    const Look = { URL: class URL { constructor(readonly href: string) {} toJSON() { return this.href; } } }.URL;
    expect(key(new Look('https://a.example/'))).not.toBe(key(new URL('https://a.example/')));
  });

  test('a built-in is read through its own methods, so an override or a fake tag cannot take its key', () => {
    const refusedOrDistinct = (fake: unknown, real: unknown) => {
      let encoded: string | undefined;
      try {
        encoded = key(fake);
      } catch (error) {
        expect(error).toBeInstanceOf(UnkeyableArgumentError);
        return;
      }
      expect(encoded).not.toBe(key(real));
    };
    refusedOrDistinct(Object.create(URL.prototype), new URL('https://a.example/'));
    refusedOrDistinct(Object.create(URLSearchParams.prototype), new URLSearchParams());
    refusedOrDistinct(Object.create(Headers.prototype), new Headers());
    refusedOrDistinct(new (class { get [Symbol.toStringTag]() { return 'URLSearchParams'; } })(), new URLSearchParams());
    const real = new URL('https://a.example/');
    // Subclasses whose own readers report another value than the built-in holds.
    const lying = <T extends object>(base: new (...args: any[]) => T, name: string, readers: PropertyDescriptorMap) => {
      const Sub = { [name]: class extends base {} }[name];
      Object.defineProperties(Sub.prototype, readers);
      return Sub;
    };
    const Elsewhere = lying(URL, 'URL', { href: { get: () => real.href } });
    refusedOrDistinct(new Elsewhere('https://b.example/'), real);
    const Wide = lying(Uint8Array, 'Uint16Array', { [Symbol.toStringTag]: { get: () => 'Uint16Array' } });
    refusedOrDistinct(new Wide([1, 0]), new Uint16Array([1]));
    const Two = lying(Number, 'Two', { valueOf: { value: () => 2 } });
    refusedOrDistinct(new Two(1), new Number(2));
    const Epoch = lying(Date, 'Epoch', { getTime: { value: () => 0 }, toISOString: { value: () => new Date(0).toISOString() } });
    refusedOrDistinct(new Epoch(1), new Date(0));
    const Hollow = lying(Map, 'Hollow', { [Symbol.iterator]: { value: function* () {} }, entries: { value: function* () {} } });
    refusedOrDistinct(new Hollow([['k', 1]]), new Map());
    const Global = lying(RegExp, 'Global', { flags: { get: () => 'g' } });
    refusedOrDistinct(new Global('a'), /a/g);
    const Quiet = lying(Headers, 'Headers', { get: { value: () => null }, [Symbol.iterator]: { value: function* () {} }, entries: { value: function* () {} } });
    refusedOrDistinct(new Quiet({ a: '1' }), new Headers());
    expect(key(new Two(1))).toBe(key(new Number(1)));
  });

  test('an object whose state the key cannot see is refused, with a way out', () => {
    class Hidden {
      constructor(id: number) {
        Object.defineProperty(this, 'id', { value: id });
      }
    }
    class Tagged {
      readonly id = 1;
      get [Symbol.toStringTag]() {
        return 'Tagged';
      }
    }
    class AppError extends Error {}
    class Listener extends EventTarget {}
    const cases: [unknown, string, RegExp][] = [
      // Inherited state: Object.create({ id: 1 }) and Object.create({ id: 2 }) would share a key.
      [Object.create({ id: 1 }), 'args[0]', /inherits .* plain object/],
      [{ nested: Object.create({ id: 1 }) }, 'args[0].nested', /inherits/],
      // Non-enumerable and symbol-keyed own state, on a plain object or a class instance.
      [Object.defineProperty({}, 'id', { value: 1 }), 'args[0].id', /non-enumerable property.*toJSON/],
      [new Hidden(1), 'args[0].id', /non-enumerable property/],
      [Object.defineProperty({ a: 1 }, Symbol.for('id'), { value: 1 }), 'args[0][Symbol(id)]', /keyed by a symbol/],
      [(function (..._args: unknown[]) { return arguments; })(1), 'args[0].length', /non-enumerable property/],
      // Built-ins whose state is in internal slots.
      [new Blob(['x']), 'args[0]', /is a Blob, .*cannot read/],
      [new AbortController(), 'args[0]', /is an AbortController/],
      [AbortSignal.abort(), 'args[0]', /is an AbortSignal/],
      [new Listener(), 'args[0]', /is an EventTarget/],
      [new Intl.NumberFormat('en'), 'args[0]', /is an Intl\.NumberFormat, .*internal/],
      [new FinalizationRegistry(() => undefined), 'args[0]', /is a FinalizationRegistry/],
      [Object.create(Date.prototype), 'args[0]', /claims to be a Date/],
      [new Tagged(), 'args[0]', /is a Tagged, .*toJSON/],
      // Errors of every kind.
      [new AppError('e'), 'args[0]', /is an Error/],
      [new AggregateError([], 'e'), 'args[0]', /is an Error/],
      [new DOMException('e', 'AbortError'), 'args[0]', /is an Error/],
      [Object.create(Error.prototype), 'args[0]', /is an Error/],
    ];
    for (const [argument, path, what] of cases) {
      let thrown: unknown;
      try {
        encodeArgs([argument], 'Svc.method');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(UnkeyableArgumentError);
      expect(thrown).toMatchObject({ index: 0, path });
      expect((thrown as Error).message).toMatch(what);
    }
    // What stays keyable: a toJSON() says what the value is, whatever the prototype.
    class Span extends EventTarget {
      constructor(readonly id: number) {
        super();
      }
      toJSON() {
        return this.id;
      }
    }
    expect(key(new Span(1))).toBe('(new Span(1))');
    expect(key(Object.create({ toJSON: () => 'v' }))).toBe('(new Object("v"))');
    expect(key(Object.assign(Object.create(null), { a: 1 }))).toBe('(<"a":1>)');
  });

  test('cycles are refused, shared references are not', () => {
    const cyclic: { self?: unknown } = {};
    cyclic.self = [cyclic];
    expect(() => key(cyclic)).toThrow(/args\[0\]\.self\[0\]\) is a cyclic object/);
    const shared = { a: 1 };
    expect(key([shared, shared], { x: shared })).toBe('([<"a":1>,<"a":1>],<"x":<"a":1>>)');
  });
});

describe('key head and length', () => {
  test('the head names namespace, class, method, version and instance, each escaped', () => {
    expect(formatHead({ className: 'UserService', name: 'getUser' })).toBe('UserService.getUser');
    expect(formatHead({ namespace: 'users:v2', className: 'UserService', name: 'getUser', version: '1.2', instance: 'acme' })).toBe('users:v2/UserService.getUser@1.2#acme');
    expect(formatHead({ className: 'A.b', name: 'c' })).not.toBe(formatHead({ className: 'A', name: 'b.c' }));
    expect(formatHead({ name: 'A.b' })).not.toBe(formatHead({ className: 'A', name: 'b' }));
    expect(formatHead({ namespace: 'a/b', name: 'c' })).not.toBe(formatHead({ namespace: 'a', name: 'b/c' }));
    expect(formatHead({ name: 'f', version: '1#x' })).not.toBe(formatHead({ name: 'f', version: '1', instance: 'x' }));
    expect(formatHead({ name: '{f}(%)' })).toBe('%7Bf%7D%28%25%29');
  });

  test('a custom key is escaped, so it cannot change the head or cut the hash tag', () => {
    const head = formatHead({ className: 'Svc', name: 'load' });
    expect(formatKey(head, { custom: 'user:42' })).toBe('Svc.load=user:42');
    expect(formatKey(head, { custom: 'x}:v' })).toBe('Svc.load=x%7D:v');
    expect(formatKey(head, { custom: '%7D' })).not.toBe(formatKey(head, { custom: '}' }));
    expect(formatKey(head, { custom: '' })).not.toBe(formatKey(head, { args: '()' }));
  });

  test('a long key is hashed to a fixed length and keeps a readable prefix', () => {
    const head = formatHead({ className: 'Search', name: 'run' });
    const long = (tail: string) => formatKey(head, { args: encodeArgs(['q'.repeat(300) + tail]) });
    const hashed = long('a');
    expect(hashed).toHaveLength(HASHED_KEY_LENGTH);
    expect(hashed.startsWith('Search.run("qqq')).toBe(true);
    expect(hashed).toMatch(/~[A-Za-z0-9_-]{43}$/);
    expect(long('b')).not.toBe(hashed);
    expect(long('a')).toBe(hashed);
    const short = formatKey(head, { args: encodeArgs(['q'.repeat(MAX_KEY_LENGTH - head.length - 4)]) });
    expect(short).toHaveLength(MAX_KEY_LENGTH);
    expect(short).not.toContain('~');
  });
});
