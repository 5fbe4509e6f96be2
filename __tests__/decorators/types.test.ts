import { Cached, cached, CacheEvict, invalidate, invalidateAll, keyOf, peek, type CachedFunction } from '../../decorators';
import type { Cache } from '../../src';

/*
 * Type tests: checked by tsc and by ts-jest when this file compiles (a wrong type or an unused
 * @ts-expect-error fails the run). Nothing here touches Redis; the functions are declared, never called.
 */
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | void {}

declare const cache: Cache;
interface User {
  id: string;
}

async function loadUser(id: string, options?: { fresh: boolean }): Promise<User> {
  return { id: options?.fresh ? id : id };
}

export function cachedFunctionTypes(): void {
  const load = cached(loadUser, { cache });
  assertType<Equal<Parameters<typeof load>, [id: string, options?: { fresh: boolean }]>>();
  assertType<Equal<ReturnType<typeof load>, Promise<User>>>();
  assertType<Equal<typeof load, CachedFunction<[id: string, options?: { fresh: boolean }], Promise<User>>>>();
  assertType<Equal<ReturnType<typeof load.peek>, Promise<User | undefined>>>();
  assertType<Equal<ReturnType<typeof load.invalidate>, Promise<boolean>>>();
  assertType<Equal<ReturnType<typeof load.key>, string>>();

  // A synchronous function's wrapper returns a promise of its result.
  const add = cached((a: number, b: number) => a + b, { cache, name: 'add' });
  assertType<Equal<ReturnType<typeof add>, Promise<number>>>();

  // The key function's parameters are inferred from the wrapped function.
  cached(loadUser, {
    key: (id, options) => {
      assertType<Equal<typeof id, string>>();
      assertType<Equal<typeof options, { fresh: boolean } | undefined>>();
      return id;
    },
  });

  // So are a tags function's; a fixed list is a list of strings.
  cached(loadUser, {
    tags: (id, options) => {
      assertType<Equal<typeof id, string>>();
      assertType<Equal<typeof options, { fresh: boolean } | undefined>>();
      return [`user:${id}`];
    },
  });
  cached(loadUser, { tags: ['users'] as const });
  // @ts-expect-error the tags function must take the function's arguments
  cached(loadUser, { tags: (id: number) => [String(id)] });
  // @ts-expect-error the tags function returns a list of strings
  cached(loadUser, { tags: (id: string) => id });
  // @ts-expect-error a tag is a string
  cached(loadUser, { tags: ['users', 1] });

  // A function expression is typed after the options; an annotated key function still fits it.
  const scaled = cached(async function scaled(x: number) { return x * 2; }, { key: (x: number) => String(x), ttl: '1m' });
  assertType<Equal<typeof scaled, CachedFunction<[x: number], Promise<number>>>>();
  // `this` is passed through, and is not one of the parameters.
  const total = cached(function total(this: { rate: number }, amount: number) { return amount * this.rate; }, { cache });
  assertType<Equal<Parameters<typeof total>, [amount: number]>>();

  // @ts-expect-error the argument is a string
  load(42);
  // @ts-expect-error key() takes the function's arguments
  load.key(42);
  // @ts-expect-error the key function must take the function's arguments
  cached(loadUser, { key: (id: number) => String(id) });
  // @ts-expect-error the key function returns a string
  cached(loadUser, { key: (id: string) => Number(id) });
  // @ts-expect-error ttl is a duration such as '5m' or milliseconds
  cached(loadUser, { ttl: '5 minutes' });
  // @ts-expect-error instanceKey is for methods
  cached(loadUser, { instanceKey: () => 'x' });
  // The freshness options are taken as the core takes them.
  cached(loadUser, { ttl: '1m', grace: '10m', earlyRefresh: 2, softTimeout: 0, hardTimeout: '5s', refreshBackoff: '30s' });
  cached(loadUser, { grace: false, earlyRefresh: false, hardTimeout: false });
  // @ts-expect-error grace is a duration such as '10m'
  cached(loadUser, { grace: '1 hour' });
  // @ts-expect-error earlyRefresh is β (a number) or a boolean
  cached(loadUser, { earlyRefresh: 'yes' });
  // @ts-expect-error forceFresh is for one call of getOrSet, not for every call of a cached function
  cached(loadUser, { forceFresh: true });
}

class Catalog {
  @Cached()
  async product(sku: string): Promise<{ sku: string }> {
    return { sku };
  }

  @Cached('1m', (sku: string) => sku)
  async price(sku: string, _currency?: string): Promise<number> {
    return sku.length;
  }

  // @ts-expect-error the key function must take the method's leading arguments
  @Cached('1m', (sku: number) => String(sku))
  async stock(sku: string): Promise<number> {
    return sku.length;
  }

  // @ts-expect-error instanceKey receives the instance: Catalog has no 'region'
  @Cached({ instanceKey: (self: { region: string }) => self.region })
  async local(sku: string): Promise<string> {
    return sku;
  }

  @CacheEvict(['product', 'price'], (sku: string) => [sku])
  async rename(sku: string, _name: string): Promise<void> {}

  // A tags function may take the method's leading parameters only, as a key function may.
  @Cached({ tags: (sku: string) => [`sku:${sku}`], key: (sku: string, currency?: string) => `${sku}-${currency}` })
  async tagged(sku: string, _currency?: string): Promise<number> {
    return sku.length;
  }

  @Cached({ tags: ['catalog'] })
  async listed(): Promise<string[]> {
    return [];
  }

  // @ts-expect-error the tags function must take the method's leading arguments
  @Cached({ tags: (sku: number) => [String(sku)] })
  async mistagged(sku: string): Promise<number> {
    return sku.length;
  }

  // @ts-expect-error a tags function returns a list of strings
  @Cached({ tags: (sku: string) => sku })
  async tagString(sku: string): Promise<number> {
    return sku.length;
  }

  // Tags alone, tags with methods, and tags with a mapping for the methods.
  @CacheEvict({ tags: (sku: string) => [`sku:${sku}`] })
  async retag(sku: string, _name: string): Promise<void> {}

  @CacheEvict({ tags: ['catalog'], when: 'before' })
  async reindex(): Promise<void> {}

  @CacheEvict({ method: ['product', 'price'], args: (sku: string) => [sku], tags: (sku: string, name: string) => [`sku:${sku}`, `name:${name}`] })
  async relabel(sku: string, name: string): Promise<void> {}

  // @ts-expect-error the tags function must take the method's leading arguments
  @CacheEvict({ tags: (sku: number) => [String(sku)] })
  async mistag(sku: string): Promise<void> {}

  // @ts-expect-error the evicted method takes a string
  @CacheEvict('product', (sku: string) => [sku.length])
  async reprice(sku: string): Promise<void> {}
}

// Mistakes that also fail when the class is defined: the class is declared, never defined.
export function evictMistakes(): unknown {
  class Mistakes {
    @Cached()
    async product(sku: string): Promise<{ sku: string }> {
      return { sku };
    }

    // @ts-expect-error @CacheEvict needs a method or tags
    @CacheEvict({ when: 'before' })
    async evictNothing(_sku: string): Promise<void> {}

    // @ts-expect-error the mapping is for named methods, and none is
    @CacheEvict({ tags: ['catalog'], args: (sku: string) => [sku] })
    async mapNothing(_sku: string): Promise<void> {}

    // @ts-expect-error 'tag' is not an option (a misspelt name still fails)
    @CacheEvict({ method: 'product', tag: ['catalog'] })
    async misspelt(_sku: string): Promise<void> {}
  }
  return Mistakes;
}

export function helperTypes(catalog: Catalog): void {
  void invalidate(catalog.product, 'sku-1');
  void invalidate(catalog, 'product', 'sku-1');
  const peeked = peek(catalog.product, 'sku-1');
  assertType<Equal<typeof peeked, Promise<{ sku: string } | undefined>>>();
  const peekedByName = peek(catalog, 'product', 'sku-1');
  assertType<Equal<typeof peekedByName, Promise<{ sku: string } | undefined>>>();
  const key = keyOf(catalog, 'price', 'sku-1', 'EUR');
  assertType<Equal<typeof key, string>>();
  // @ts-expect-error product takes a string
  void invalidate(catalog.product, 1);
  // @ts-expect-error product takes a string
  void invalidate(catalog, 'product', 1);
  // @ts-expect-error Catalog has no method 'products'
  void invalidate(catalog, 'products', 'sku-1');

  const all = invalidateAll(catalog.product);
  assertType<Equal<typeof all, Promise<void>>>();
  void invalidateAll(catalog, 'price');
  void invalidateAll(cached(loadUser));
  // @ts-expect-error Catalog has no method 'products'
  void invalidateAll(catalog, 'products');
  // @ts-expect-error invalidateAll takes no arguments: it invalidates every argument list
  void invalidateAll(catalog.product, 'sku-1');
}

test('the type assertions in this file compiled', () => {
  expect(typeof cachedFunctionTypes).toBe('function');
  expect(typeof helperTypes).toBe('function');
  expect(typeof evictMistakes).toBe('function');
});
