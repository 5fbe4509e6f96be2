import { cached, CACHED_METADATA_KEY, DecoratorUsageError, getCachedMethods, invalidate, invalidateAll, keyOf, NoCacheError, peek, setDefaultCache, UnkeyableArgumentError } from '../../decorators';
import { InvalidOptionError } from '../../src';
import type * as Fixtures from './fixtures';
import type { TestRedis } from './helpers';

/*
 * What @Cached, @CacheConfig and @CacheEvict do, run once per TypeScript decorator mode against classes
 * compiled in that mode (fixtures.ts in this folder and in ../decorators-legacy). Every assertion is on
 * what callers receive, how often methods ran, and what Redis holds.
 */
export function decoratorContract(mode: 'standard' | 'legacy', fixtures: typeof Fixtures, redis: TestRedis): void {
  const { defineServices, misuse } = fixtures;
  const ada = { id: '1', name: 'Ada' };

  describe(`@Cached with ${mode} decorators`, () => {
    test('concurrent callers share one computation, later calls are served from the cache', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      const results = await Promise.all(Array.from({ length: 20 }, () => service.getUser('1')));
      expect(results).toEqual(Array(20).fill(ada));
      expect(await service.getUser('1')).toEqual(ada);
      expect(runs.of('getUser')).toBe(1);
    });

    test('keys by argument value, and instances of a class share entries', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      await service.getUser('1');
      await service.getUser('2');
      await new UserService().getUser('1');
      expect(runs.of('getUser')).toBe(2);
      expect(await service.search({ name: 'a', limit: 10 })).toEqual(['1@1', '2@1']);
      expect(await service.search({ limit: 10, name: 'a' })).toEqual(['1@1', '2@1']);
      expect(await service.search({ name: 'a', limit: 10 }, undefined)).toEqual(['1@1', '2@1']);
      expect(runs.of('search')).toBe(1);
      expect(await service.search({ name: 'a', limit: 10 }, 2)).toEqual(['1@2', '2@2']);
      expect(runs.of('search')).toBe(2);
    });

    test('keys follow the documented format and hold the value in Redis', async () => {
      const cache = redis.cache();
      const { UserService } = defineServices(cache);
      const service = new UserService();
      const ns = cache.namespace;
      expect(keyOf(service.getUser, '1')).toBe(`${ns}:{users/UserService.getUser("1")}:v`);
      expect(keyOf(service, 'getProfile', '1')).toBe(`${ns}:{users/UserService.getProfile=profile-1}:v`);
      expect(keyOf(service.countUsers)).toBe(`${ns}:{users/UserService.countUsers@1()}:v`);
      expect(keyOf(service.search, { name: 'a', limit: 10 }, 2)).toBe(`${ns}:{users/UserService.search(<"limit":10,"name":"a">,2)}:v`);
      const client = await redis.client();
      expect(await client.exists(keyOf(service.getUser, '1'))).toBe(0);
      await service.getUser('1');
      expect(await client.exists(keyOf(service.getUser, '1'))).toBe(1);
    });

    test('a custom key maps different arguments to one entry, still namespaced and versioned', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      expect(await service.getProfile('1')).toBe('Ada (#1)');
      expect(await service.getProfile('1')).toBe('Ada (#1)');
      expect(await service.getProfile('2')).toBe('Grace (#2)');
      expect(runs.of('getProfile')).toBe(2);
    });

    test('ttl comes from @Cached, else @CacheConfig, else the cache', async () => {
      const cache = redis.cache({ ttl: '2h' });
      const { UserService, TenantService } = defineServices(cache);
      const service = new UserService();
      const tenant = new TenantService('acme');
      await Promise.all([service.getProfile('1'), service.countUsers(), service.getUser('1'), tenant.report('2024-01')]);
      const client = await redis.client();
      const ttl = (key: string) => client.pTTL(key);
      expect(await ttl(keyOf(service.getProfile, '1'))).toBeGreaterThan(4 * 60_000);
      expect(await ttl(keyOf(service.getProfile, '1'))).toBeLessThanOrEqual(5 * 60_000);
      expect(await ttl(keyOf(service.countUsers))).toBeGreaterThan(30_000);
      expect(await ttl(keyOf(service.countUsers))).toBeLessThanOrEqual(60_000);
      expect(await ttl(keyOf(tenant, 'report', '2024-01'))).toBeGreaterThan(5 * 60_000);
      expect(await ttl(keyOf(tenant, 'report', '2024-01'))).toBeLessThanOrEqual(10 * 60_000);
      expect(await ttl(keyOf(service.getUser, '1'))).toBeGreaterThan(60 * 60_000);
    });

    test('bumping the version orphans the old entries', async () => {
      const cache = redis.cache();
      const v1 = defineServices(cache, 1);
      const v2 = defineServices(cache, 2);
      const v1Again = defineServices(cache, 1);
      await new v1.UserService().countUsers();
      await new v2.UserService().countUsers();
      await new v1Again.UserService().countUsers();
      expect([v1.runs.of('countUsers'), v2.runs.of('countUsers'), v1Again.runs.of('countUsers')]).toEqual([1, 1, 0]);
    });

    test('the method runs with its instance as this', async () => {
      const { UserService } = defineServices(redis.cache());
      expect(await new UserService().greet('2')).toBe('hello Grace');
    });

    test('a synchronous method returns a promise once cached', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      const first = service.add(1, 2) as unknown as Promise<number>;
      expect(typeof first.then).toBe('function');
      expect(await first).toBe(3);
      expect(await (service.add(1, 2) as unknown as Promise<number>)).toBe(3);
      expect(runs.of('add')).toBe(1);
    });

    test('a failure reaches every concurrent caller and is not cached', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      const outcomes = await Promise.allSettled([service.explode('x'), service.explode('x'), service.explode('x')]);
      expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'fulfilled'))).toEqual(Array(3).fill('cannot load x'));
      expect(runs.of('explode')).toBe(1);
      await expect(service.explode('x')).rejects.toThrow('cannot load x');
      expect(runs.of('explode')).toBe(2);
    });

    test('arguments that cannot be keyed are a typed error naming their position, and the method does not run', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(service.echo(() => 1)).rejects.toThrow(UnkeyableArgumentError);
      await expect(service.echo({ when: Symbol('now') })).rejects.toMatchObject({ index: 0, path: 'args[0].when', target: 'UserService.echo' });
      await expect(service.echo(cyclic)).rejects.toThrow(/UserService\.echo: argument 1 \(args\[0\]\.self\) is a cyclic object/);
      expect(runs.of('echo')).toBe(0);
    });

    test('the cache comes from @Cached, else @CacheConfig, else the default; none fails at the first call naming the method', async () => {
      const cache = redis.cache();
      const auditCache = redis.cache();
      const fallback = redis.cache();
      const { UserService, AdminService, Uncached } = defineServices(cache, 1, auditCache);
      const loader = new Uncached();
      await expect(loader.load('1')).rejects.toThrow(NoCacheError);
      await expect(loader.load('1')).rejects.toThrow(/Uncached\.load has no cache/);
      setDefaultCache(fallback);
      expect(await loader.load('1')).toBe('loaded 1');
      expect(await fallback.get('Uncached.load("1")')).toBe('loaded 1');
      await new UserService().getUser('1');
      expect(await cache.get('users/UserService.getUser("1")')).toEqual(ada);
      await new AdminService().audit('monday');
      expect(await auditCache.get('users/AdminService.audit("monday")')).toBe('audit of monday');
    });

    test('instanceKey keeps one entry per instance discriminator', async () => {
      const cache = redis.cache();
      const { TenantService, runs } = defineServices(cache);
      const acme = new TenantService('acme');
      const globex = new TenantService('globex');
      expect(await acme.report('2024-01')).toBe('acme 2024-01');
      expect(await globex.report('2024-01')).toBe('globex 2024-01');
      expect(await new TenantService('acme').report('2024-01')).toBe('acme 2024-01');
      expect(runs.of('report')).toBe(2);
      expect(keyOf(acme, 'report', '2024-01')).toBe(`${cache.namespace}:{TenantService.report#acme("2024-01")}:v`);
      await expect(invalidate(acme.report, '2024-01')).rejects.toThrow(DecoratorUsageError);
      expect(await invalidate(acme, 'report', '2024-01')).toBe(true);
      await acme.report('2024-01');
      await globex.report('2024-01');
      expect(runs.of('report')).toBe(3);
      await globex.correct('2024-01');
      await acme.report('2024-01');
      await globex.report('2024-01');
      expect(runs.of('report')).toBe(4);
    });

    test('an inherited method keeps its declaring class in the key', async () => {
      const cache = redis.cache();
      const { UserService, AdminService, runs } = defineServices(cache);
      const admin = new AdminService();
      await new UserService().getUser('1');
      expect(await admin.getUser('1')).toEqual(ada);
      expect(runs.of('getUser')).toBe(1);
      expect(keyOf(admin, 'getUser', '1')).toBe(keyOf(new UserService(), 'getUser', '1'));
      expect(keyOf(admin, 'audit', 'monday')).toBe(`${cache.namespace}:{users/AdminService.audit("monday")}:v`);
    });

    test('getCachedMethods lists a class’s cached methods with their options, inherited ones included', () => {
      const { UserService, AdminService } = defineServices(redis.cache());
      const own = ['getUser', 'getProfile', 'countUsers', 'search', 'greet', 'explode', 'echo', 'add'];
      expect(getCachedMethods(UserService).map((m) => m.method)).toEqual(own);
      const listed = getCachedMethods(AdminService);
      expect(listed.map((m) => `${m.className}.${String(m.method)}`)).toEqual(['AdminService.audit', ...own.map((m) => `UserService.${m}`)]);
      const profile = listed.find((m) => m.method === 'getProfile')!;
      expect(profile.options.ttl).toBe('5m');
      expect(typeof profile.options.key).toBe('function');
      expect(listed.find((m) => m.method === 'countUsers')!.options).toMatchObject({ ttl: 60_000, version: 1 });
    });

    // Messages name the decorated member as Class.member; standard member decorators are not given their
    // class while it is being defined, so there they name the member alone.
    const member = (className: string, name: string) => (mode === 'legacy' ? `${className}\\.${name}` : name);
    test.each([
      ['getter', DecoratorUsageError, new RegExp(`@Cached cannot decorate a getter \\(${member('Getter', 'total')}\\)`)],
      ['field', DecoratorUsageError, new RegExp(`@Cached cannot decorate a field \\(${member('Field', 'load')}\\): .*cached\\(`)],
      ['staticMethod', DecoratorUsageError, new RegExp(`@Cached cannot decorate a static method \\(${member('Static', 'load')}\\): .*cached\\(\\)`)],
      ['withoutParentheses', DecoratorUsageError, new RegExp(`@Cached must be called \\(on ${member('Bare', 'load')}\\): write @Cached\\(\\)`)],
      ['badTtl', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('BadTtl', 'load')}: option 'ttl' must be a duration`)],
      ['unknownOption', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('Unknown', 'load')}: unknown option 'ttlSeconds'`)],
      ['configOnMethod', DecoratorUsageError, new RegExp(`@CacheConfig decorates a class, not a method \\(${member('ConfigOnMethod', 'load')}\\)`)],
      ['configBadTtl', InvalidOptionError, /^herdless: @CacheConfig on BadConfig: option 'ttl' must be a duration/],
      ['evictBadWhen', InvalidOptionError, new RegExp(`^herdless: @CacheEvict on ${member('BadWhen', 'update')}: option 'when' must be 'after' or 'before'`)],
      ['tagEmpty', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('TagEmpty', 'load')}: option 'tags\\[0\\]' must be a non-empty string`)],
      ['tooManyTags', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('TooManyTags', 'load')}: option 'tags' must be at most 64 tags`)],
      ['tagNumber', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('TagNumber', 'load')}: option 'tags\\[1\\]' must be a non-empty string.*; got 42`)],
      ['tagReserved', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('TagReserved', 'load')}: option 'tags\\[0\\]' must be a tag that does not start with NUL`)],
      ['tagsNotAList', InvalidOptionError, new RegExp(`^herdless: @Cached on ${member('TagsNotAList', 'load')}: option 'tags' must be an array of tag strings, or a function`)],
      ['evictTagEmpty', InvalidOptionError, new RegExp(`^herdless: @CacheEvict on ${member('EvictTagEmpty', 'update')}: option 'tags\\[1\\]' must be a non-empty string`)],
      ['evictNothing', InvalidOptionError, new RegExp(`^herdless: @CacheEvict on ${member('EvictNothing', 'update')}: @CacheEvict needs the method\\(s\\) to evict or the tags to invalidate`)],
      ['evictArgsWithoutMethod', InvalidOptionError, new RegExp(`^herdless: @CacheEvict on ${member('EvictArgsWithoutMethod', 'update')}: @CacheEvict's args maps this method's arguments to the evicted methods'`)],
    ] as const)('misuse fails when the class is defined: %s', (name, type, message) => {
      expect(() => misuse[name]()).toThrow(type);
      expect(() => misuse[name]()).toThrow(message);
    });
  });

  describe(`@CacheEvict and invalidate with ${mode} decorators`, () => {
    test('an update evicts the mapped entries of the named methods, and only those', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      await Promise.all([service.getUser('1'), service.getProfile('1'), service.getUser('2')]);
      await service.updateUser('1', { name: 'Ada Lovelace' });
      expect(await service.getUser('1')).toEqual({ id: '1', name: 'Ada Lovelace' });
      expect(await service.getProfile('1')).toBe('Ada Lovelace (#1)');
      expect(await service.getUser('2')).toEqual({ id: '2', name: 'Grace' });
      expect([runs.of('getUser'), runs.of('getProfile')]).toEqual([3, 2]);
    });

    test('without a mapping the evicted method gets the same arguments', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      expect(await service.getUser('2')).toEqual({ id: '2', name: 'Grace' });
      await service.deleteUser('2');
      expect(await service.getUser('2')).toBeUndefined();
      expect(runs.of('getUser')).toBe(2);
    });

    test('nothing is evicted when the update fails', async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      expect(await service.getUser('9')).toBeUndefined();
      await expect(service.updateUser('9', { name: 'Nobody' })).rejects.toThrow('no user 9');
      expect(await service.getUser('9')).toBeUndefined();
      expect(runs.of('getUser')).toBe(1);
    });

    test("when: 'before' evicts before the method runs, whatever its outcome", async () => {
      const { UserService, runs } = defineServices(redis.cache());
      const service = new UserService();
      expect(await service.countUsers()).toBe(2);
      await expect(service.addUser({ id: '1', name: 'Again' })).rejects.toThrow('user 1 exists');
      expect(await service.countUsers()).toBe(2);
      expect(runs.of('countUsers')).toBe(2);
      await service.addUser({ id: '3', name: 'Hedy' });
      expect(await service.countUsers()).toBe(3);
      expect(runs.of('countUsers')).toBe(3);
    });

    test('naming a method that is not cached fails at the call', async () => {
      const EvictTypo = misuse.evictUnknownMethod();
      await expect(new EvictTypo().update('1')).rejects.toThrow(/@CacheEvict on EvictTypo\.update names 'getUsr', which is not a @Cached method/);
    });

    test('naming a method that is not cached is refused before the method runs, so no data changes', async () => {
      const { EvictPlain, writes } = misuse.evictPlainMethod();
      const service = new EvictPlain();
      await expect(service.update('1')).rejects.toThrow(DecoratorUsageError);
      await expect(service.update('1')).rejects.toThrow(/@CacheEvict on EvictPlain\.update names 'plain', which is not a @Cached method/);
      expect(writes).toEqual([]);
    });

    test('invalidate, peek and keyOf take the method or the instance and its name', async () => {
      const { UserService, runs, db } = defineServices(redis.cache());
      const service = new UserService();
      await service.getUser('1');
      expect(await peek(service.getUser, '1')).toEqual(ada);
      expect(await peek(service, 'getUser', '2')).toBeUndefined();
      db.set('1', { id: '1', name: 'Countess' });
      expect(await service.getUser('1')).toEqual(ada);
      expect(await invalidate(service.getUser, '1')).toBe(true);
      expect(await invalidate(service.getUser, '1')).toBe(false);
      expect(await service.getUser('1')).toEqual({ id: '1', name: 'Countess' });
      expect(await invalidate(service, 'getUser', '1')).toBe(true);
      expect(await peek(service.getUser, '1')).toBeUndefined();
      expect(runs.of('getUser')).toBe(2);
      expect(runs.of('peek')).toBe(0);
      await expect(invalidate(async () => 1)).rejects.toThrow(DecoratorUsageError);
      // @ts-expect-error 'greeting' is not a method
      await expect(invalidate(service, 'greeting')).rejects.toThrow(/'greeting' is not a @Cached method of UserService/);
    });

    test(`per-method options are recorded as metadata (${CACHED_METADATA_KEY})`, () => {
      const { UserService } = defineServices(redis.cache());
      expect(getCachedMethods(UserService).find((m) => m.method === 'getUser')).toEqual({ className: 'UserService', method: 'getUser', options: {} });
    });
  });

  describe(`tags and invalidateAll with ${mode} decorators`, () => {
    test('@Cached tags: invalidating a tag makes the entries carrying it recompute, and only those', async () => {
      const cache = redis.cache();
      const { ProductService, runs, products } = defineServices(cache);
      const shop = new ProductService();
      await Promise.all([shop.getProduct('1'), shop.getProduct('2'), shop.listProducts()]);
      expect(await shop.getProduct('1')).toBe('lamp');
      expect([runs.of('getProduct'), runs.of('listProducts')]).toEqual([2, 1]);
      products.set('1', 'lava lamp');
      await cache.invalidateTags(['product:1']);
      expect(await shop.getProduct('1')).toBe('lava lamp');
      expect(await shop.getProduct('2')).toBe('desk');
      expect(await shop.listProducts()).toEqual(['lamp', 'desk']);
      expect([runs.of('getProduct'), runs.of('listProducts')]).toEqual([3, 1]);
      // A fixed list tags every entry of the method.
      await cache.invalidateTags(['catalog']);
      expect(await shop.listProducts()).toEqual(['lava lamp', 'desk']);
      expect([runs.of('getProduct'), runs.of('listProducts')]).toEqual([3, 2]);
    });

    test("a tags function gets the instance as this", async () => {
      const cache = redis.cache();
      const { ProductService, runs } = defineServices(cache);
      const shop = new ProductService();
      expect(await shop.price('1')).toBe('lamp in eu');
      await cache.invalidateTags(['eu:price:2']);
      await shop.price('1');
      expect(runs.of('price')).toBe(1);
      await cache.invalidateTags(['eu:price:1']);
      await shop.price('1');
      expect(runs.of('price')).toBe(2);
      // @CacheEvict's tags function too.
      await shop.reprice('1');
      await shop.price('1');
      expect(runs.of('price')).toBe(3);
    });

    test('@CacheEvict tags are invalidated once the method resolves, and not when it throws', async () => {
      const { ProductService, runs } = defineServices(redis.cache());
      const shop = new ProductService();
      await Promise.all([shop.getProduct('1'), shop.getProduct('2'), shop.getProduct('9')]);
      await shop.renameProduct('1', 'lava lamp');
      expect(await shop.getProduct('1')).toBe('lava lamp');
      expect(await shop.getProduct('2')).toBe('desk');
      expect(runs.of('getProduct')).toBe(4);
      await expect(shop.renameProduct('9', 'chair')).rejects.toThrow('no product 9');
      expect(await shop.getProduct('9')).toBe('undefined');
      expect(runs.of('getProduct')).toBe(4);
    });

    test("@CacheEvict tags with when: 'before' are invalidated whatever the outcome; with a method, both are evicted", async () => {
      const { ProductService, runs } = defineServices(redis.cache());
      const shop = new ProductService();
      await shop.listProducts();
      await expect(shop.addProduct('1', 'again')).rejects.toThrow('product 1 exists');
      expect(await shop.listProducts()).toEqual(['lamp', 'desk']);
      expect(runs.of('listProducts')).toBe(2);
      await Promise.all([shop.getProduct('2'), shop.getProduct('1')]);
      await shop.removeProduct('2');
      expect(await shop.getProduct('2')).toBe('undefined');
      expect(await shop.getProduct('1')).toBe('lamp');
      expect(await shop.listProducts()).toEqual(['lamp']);
      expect([runs.of('getProduct'), runs.of('listProducts')]).toEqual([3, 3]);
    });

    test("with methods named, @CacheEvict invalidates its tags in those methods' caches", async () => {
      const cache = redis.cache();
      const auditCache = redis.cache();
      const { AdminService, ProductService, runs } = defineServices(cache, 1, auditCache);
      const admin = new AdminService();
      const shop = new ProductService();
      const audited = cached(async function auditedCatalog() {
        runs.count('auditedCatalog');
        return 1;
      }, { cache: auditCache, tags: ['catalog'] });
      await Promise.all([admin.audit('monday'), audited(), shop.listProducts()]);
      await admin.closeDay('monday');
      await Promise.all([admin.audit('monday'), audited(), shop.listProducts()]);
      expect([runs.of('audit'), runs.of('auditedCatalog'), runs.of('listProducts')]).toEqual([2, 2, 1]);
    });

    test("a tags-only @CacheEvict uses the class's cache, else the default one; with none it rejects before the method runs", async () => {
      const { Defaulted, runs } = defineServices(redis.cache());
      const defaulted = new Defaulted();
      await expect(defaulted.saveSettings()).rejects.toThrow(NoCacheError);
      await expect(defaulted.saveSettings()).rejects.toThrow(/Defaulted\.saveSettings has no cache to invalidate its @CacheEvict tags in/);
      expect(runs.of('saveSettings')).toBe(0);
      setDefaultCache(redis.cache());
      await defaulted.settings();
      await defaulted.saveSettings();
      await defaulted.settings();
      expect([runs.of('saveSettings'), runs.of('settings')]).toEqual([1, 2]);
    });

    test('a tags function returning an unusable list rejects the call with a typed error naming the method', async () => {
      const { TagMistakes, runs } = defineServices(redis.cache());
      const mistakes = new TagMistakes();
      const bad: unknown[] = [[''], 'product:1', [42], ['\0UserService.getUser'], Array.from({ length: 65 }, (_, i) => `t${i}`), ['a'.repeat(257)]];
      for (const tags of bad) {
        await expect(mistakes.tagged(tags)).rejects.toThrow(InvalidOptionError);
        await expect(mistakes.tagged(tags)).rejects.toThrow(/^herdless: the tags function of TagMistakes\.tagged returned an unusable list: option 'tags/);
        await expect(mistakes.retag(tags)).rejects.toThrow(InvalidOptionError);
        await expect(mistakes.retag(tags)).rejects.toThrow(/^herdless: the @CacheEvict tags function of TagMistakes\.retag returned an unusable list: option 'tags/);
      }
      expect([runs.of('tagged'), runs.of('retag')]).toEqual([0, 0]);
      expect(await mistakes.tagged(['fine', 'fine'])).toBe('tagged');
      await mistakes.retag([]);
      expect([runs.of('tagged'), runs.of('retag')]).toEqual([1, 1]);
    });

    test("invalidateAll drops every argument list of one method, and no other method's entries", async () => {
      const { UserService, AdminService, runs } = defineServices(redis.cache());
      const service = new UserService();
      await Promise.all([service.getUser('1'), service.getUser('2'), service.getProfile('1'), service.search({ name: 'a' })]);
      await invalidateAll(service.getUser);
      await Promise.all([service.getUser('1'), service.getUser('2'), service.getProfile('1'), service.search({ name: 'a' })]);
      expect([runs.of('getUser'), runs.of('getProfile'), runs.of('search')]).toEqual([4, 1, 1]);
      await invalidateAll(service, 'getProfile');
      await Promise.all([service.getUser('1'), service.getProfile('1')]);
      expect([runs.of('getUser'), runs.of('getProfile')]).toEqual([4, 2]);
      // An inherited method is the declaring class's: one set of entries.
      await invalidateAll(new AdminService().getUser);
      await service.getUser('1');
      expect(runs.of('getUser')).toBe(5);
    });

    test('invalidateAll reaches the entries of every instance of a method keyed per instance', async () => {
      const { TenantService, runs } = defineServices(redis.cache());
      const acme = new TenantService('acme');
      const globex = new TenantService('globex');
      await Promise.all([acme.report('2024-01'), globex.report('2024-01'), acme.report('2024-02')]);
      expect(runs.of('report')).toBe(3);
      await invalidateAll(acme.report);
      await Promise.all([acme.report('2024-01'), globex.report('2024-01'), acme.report('2024-02')]);
      expect(runs.of('report')).toBe(6);
      await invalidateAll(globex, 'report');
      await Promise.all([acme.report('2024-01'), globex.report('2024-01')]);
      expect(runs.of('report')).toBe(8);
    });

    test('invalidateAll rejects, never throws, for what is not a cached method', async () => {
      const { UserService } = defineServices(redis.cache());
      const service = new UserService();
      const plain = invalidateAll(async function plain() {});
      await expect(plain).rejects.toThrow(DecoratorUsageError);
      await expect(invalidateAll(async function plain() {})).rejects.toThrow(/invalidateAll\(\) needs a function made by cached\(\) or a @Cached method \(plain is neither/);
      // @ts-expect-error 'greeting' is not a method
      await expect(invalidateAll(service, 'greeting')).rejects.toThrow(/'greeting' is not a @Cached method of UserService/);
      // @ts-expect-error invalidateAll takes no arguments: every argument list is invalidated
      await expect(invalidateAll(service.getUser, '1')).rejects.toThrow(/invalidateAll\(\) invalidates every entry of UserService\.getUser and takes no arguments/);
    });
  });
}
