/*
 * Decorated classes shared by the decorator contract. This file and ../decorators-legacy/fixtures.ts are
 * identical text compiled in the two TypeScript modes (a test checks they stay identical); each defines
 * fresh classes per call so counters, data and caches never leak between tests.
 */
import type { Cache } from '../../src';
import { Cached, CacheConfig, CacheEvict } from '../../decorators';
import { Runs } from '../decorators/helpers';

export interface User {
  id: string;
  name: string;
}

export function defineServices(cache: Cache, version: number = 1, auditCache: Cache = cache) {
  const runs = new Runs();
  const db = new Map<string, User>([
    ['1', { id: '1', name: 'Ada' }],
    ['2', { id: '2', name: 'Grace' }],
  ]);

  @CacheConfig({ cache, namespace: 'users' })
  class UserService {
    readonly greeting = 'hello';

    @Cached()
    async getUser(id: string): Promise<User | undefined> {
      runs.count('getUser');
      const user = db.get(id);
      return user && { ...user };
    }

    @Cached('5m', (id: string) => `profile-${id}`)
    async getProfile(id: string): Promise<string> {
      runs.count('getProfile');
      return `${db.get(id)?.name} (#${id})`;
    }

    @Cached({ ttl: 60_000, version })
    async countUsers(): Promise<number> {
      runs.count('countUsers');
      return db.size;
    }

    @Cached('30s')
    async search(query: { name?: string; limit?: number }, page?: number): Promise<string[]> {
      runs.count('search');
      return [...db.values()].filter((u) => !query.name || u.name.includes(query.name)).map((u) => `${u.id}@${page ?? 1}`);
    }

    @Cached()
    async greet(id: string): Promise<string> {
      runs.count('greet');
      return `${this.greeting} ${db.get(id)?.name}`;
    }

    @Cached()
    async explode(id: string): Promise<string> {
      runs.count('explode');
      throw new Error(`cannot load ${id}`);
    }

    @Cached()
    async echo(value: unknown): Promise<string> {
      runs.count('echo');
      return typeof value;
    }

    // @ts-expect-error a synchronous method: cached, it returns a promise, so its type must say Promise
    @Cached()
    add(a: number, b: number): number {
      runs.count('add');
      return a + b;
    }

    @CacheEvict(['getUser', 'getProfile'], (id: string, _patch: Partial<User>) => [id])
    async updateUser(id: string, patch: Partial<User>): Promise<void> {
      const user = db.get(id);
      if (!user) throw new Error(`no user ${id}`);
      db.set(id, { ...user, ...patch });
    }

    @CacheEvict('getUser')
    async deleteUser(id: string): Promise<void> {
      db.delete(id);
    }

    @CacheEvict({ method: 'countUsers', args: () => [], when: 'before' })
    async addUser(user: User): Promise<void> {
      if (db.has(user.id)) throw new Error(`user ${user.id} exists`);
      db.set(user.id, user);
    }
  }

  class AdminService extends UserService {
    @Cached({ cache: auditCache })
    async audit(day: string): Promise<string> {
      runs.count('audit');
      return `audit of ${day}`;
    }

    // Tags go to the named method's cache (auditCache), not the class's.
    @CacheEvict({ method: 'audit', tags: ['catalog'] })
    async closeDay(_day: string): Promise<void> {}
  }

  @CacheConfig({ cache, ttl: '10m' })
  class TenantService {
    constructor(readonly tenant: string) {}

    @Cached({ instanceKey: (self: TenantService) => self.tenant })
    async report(month: string): Promise<string> {
      runs.count('report');
      return `${this.tenant} ${month}`;
    }

    @CacheEvict('report')
    async correct(month: string): Promise<void> {
      runs.count(`correct ${month}`);
    }
  }

  // No cache of its own: uses the default cache, or fails naming Uncached.load.
  class Uncached {
    @Cached()
    async load(id: string): Promise<string> {
      runs.count('load');
      return `loaded ${id}`;
    }
  }

  const products = new Map<string, string>([
    ['1', 'lamp'],
    ['2', 'desk'],
  ]);

  @CacheConfig({ cache, namespace: 'shop' })
  class ProductService {
    readonly region = 'eu';

    @Cached({ tags: (id: string) => [`product:${id}`] })
    async getProduct(id: string): Promise<string> {
      runs.count('getProduct');
      return `${products.get(id)}`;
    }

    @Cached({ tags: ['catalog'] })
    async listProducts(): Promise<string[]> {
      runs.count('listProducts');
      return [...products.values()];
    }

    // A tags function's `this` is the instance, as a key function's is.
    @Cached({
      tags: function (this: { region: string }, id: string) {
        return [`${this.region}:price:${id}`];
      },
    })
    async price(id: string): Promise<string> {
      runs.count('price');
      return `${products.get(id)} in ${this.region}`;
    }

    @CacheEvict({ tags: (id: string, _name: string) => [`product:${id}`] })
    async renameProduct(id: string, name: string): Promise<void> {
      if (!products.has(id)) throw new Error(`no product ${id}`);
      products.set(id, name);
    }

    @CacheEvict({ tags: ['catalog'], when: 'before' })
    async addProduct(id: string, name: string): Promise<void> {
      if (products.has(id)) throw new Error(`product ${id} exists`);
      products.set(id, name);
    }

    @CacheEvict({ method: 'getProduct', tags: ['catalog'] })
    async removeProduct(id: string): Promise<void> {
      products.delete(id);
    }

    @CacheEvict({
      tags: function (this: { region: string }, id: string) {
        return [`${this.region}:price:${id}`];
      },
    })
    async reprice(_id: string): Promise<void> {}
  }

  // No cache of its own: a tags-only @CacheEvict then uses the default cache, or fails before the method runs.
  class Defaulted {
    @Cached({ tags: ['settings'] })
    async settings(): Promise<string> {
      runs.count('settings');
      return 'settings';
    }

    @CacheEvict({ tags: ['settings'] })
    async saveSettings(): Promise<void> {
      runs.count('saveSettings');
    }
  }

  // Tags functions that return whatever they are given, to check what a call does with a bad list.
  @CacheConfig({ cache })
  class TagMistakes {
    @Cached({ tags: (tags: unknown) => tags as string[] })
    async tagged(_tags: unknown): Promise<string> {
      runs.count('tagged');
      return 'tagged';
    }

    @CacheEvict({ tags: (tags: unknown) => tags as string[], when: 'before' })
    async retag(_tags: unknown): Promise<void> {
      runs.count('retag');
    }
  }

  return { UserService, AdminService, TenantService, Uncached, ProductService, Defaulted, TagMistakes, runs, db, products };
}

/** Each defines a class with a misplaced or malformed decorator; the contract expects a typed error from each. */
export const misuse = {
  getter() {
    class Getter {
      // @ts-expect-error a getter cannot be cached
      @Cached()
      get total(): Promise<number> {
        return Promise.resolve(1);
      }
    }
    return Getter;
  },
  field() {
    class Field {
      // @ts-expect-error a field cannot be cached
      @Cached()
      load = async () => 1;
    }
    return Field;
  },
  staticMethod() {
    class Static {
      // @ts-expect-error a static method cannot be cached
      @Cached()
      static async load(): Promise<number> {
        return 1;
      }
    }
    return Static;
  },
  withoutParentheses() {
    class Bare {
      // @ts-expect-error @Cached must be called
      @Cached
      async load(): Promise<number> {
        return 1;
      }
    }
    return Bare;
  },
  badTtl() {
    class BadTtl {
      // @ts-expect-error 'soon' is not a duration
      @Cached({ ttl: 'soon' })
      async load(): Promise<number> {
        return 1;
      }
    }
    return BadTtl;
  },
  unknownOption() {
    class Unknown {
      // @ts-expect-error ttlSeconds is not an option
      @Cached({ ttlSeconds: 5 })
      async load(): Promise<number> {
        return 1;
      }
    }
    return Unknown;
  },
  configOnMethod() {
    class ConfigOnMethod {
      // @ts-expect-error @CacheConfig decorates classes
      @CacheConfig({})
      async load(): Promise<number> {
        return 1;
      }
    }
    return ConfigOnMethod;
  },
  configBadTtl() {
    // @ts-expect-error 'soon' is not a duration
    @CacheConfig({ ttl: 'soon' })
    class BadConfig {}
    return BadConfig;
  },
  evictBadWhen() {
    class BadWhen {
      @Cached()
      async load(id: string): Promise<string> {
        return id;
      }

      // @ts-expect-error 'later' is not a time to evict
      @CacheEvict({ method: 'load', when: 'later' })
      async update(_id: string): Promise<void> {}
    }
    return BadWhen;
  },
  tagEmpty() {
    class TagEmpty {
      @Cached({ tags: [''] })
      async load(): Promise<number> {
        return 1;
      }
    }
    return TagEmpty;
  },
  tooManyTags() {
    class TooManyTags {
      @Cached({ tags: Array.from({ length: 65 }, (_, i) => `tag${i}`) })
      async load(): Promise<number> {
        return 1;
      }
    }
    return TooManyTags;
  },
  tagNumber() {
    class TagNumber {
      // @ts-expect-error a tag is a string
      @Cached({ tags: ['product', 42] })
      async load(): Promise<number> {
        return 1;
      }
    }
    return TagNumber;
  },
  tagReserved() {
    class TagReserved {
      @Cached({ tags: ['\0TagReserved.load'] })
      async load(): Promise<number> {
        return 1;
      }
    }
    return TagReserved;
  },
  tagsNotAList() {
    class TagsNotAList {
      // @ts-expect-error tags is a list, or a function returning one
      @Cached({ tags: 'product' })
      async load(): Promise<number> {
        return 1;
      }
    }
    return TagsNotAList;
  },
  evictTagEmpty() {
    class EvictTagEmpty {
      @CacheEvict({ tags: ['catalog', ''] })
      async update(): Promise<void> {}
    }
    return EvictTagEmpty;
  },
  evictNothing() {
    class EvictNothing {
      // @ts-expect-error @CacheEvict needs a method or tags
      @CacheEvict({ when: 'after' })
      async update(): Promise<void> {}
    }
    return EvictNothing;
  },
  evictArgsWithoutMethod() {
    class EvictArgsWithoutMethod {
      // @ts-expect-error args maps to the evicted methods' arguments, and none is named
      @CacheEvict({ tags: ['catalog'], args: () => [] })
      async update(): Promise<void> {}
    }
    return EvictArgsWithoutMethod;
  },
  evictUnknownMethod() {
    class EvictTypo {
      @Cached()
      async getUser(id: string): Promise<string> {
        return id;
      }

      // @ts-expect-error 'getUsr' is not a method of the class
      @CacheEvict('getUsr')
      async update(_id: string): Promise<void> {}
    }
    return EvictTypo;
  },
  evictPlainMethod() {
    const writes: string[] = [];
    class EvictPlain {
      async plain(id: string): Promise<string> {
        return id;
      }

      // Compiles: a decorator cannot change a method's type, so a cached method looks like any async one.
      @CacheEvict('plain')
      async update(id: string): Promise<void> {
        writes.push(id);
      }
    }
    return { EvictPlain, writes };
  },
};
