import type { DynamicModule, OnApplicationShutdown, Provider } from '@nestjs/common';
import { Cache, createCache } from '../src/cache';
import { install, uninstall, type Installation } from './default-cache';
import { checkAsyncOptions, checkModuleOptions, type Checked, type HerdlessModuleAsyncOptions, type HerdlessModuleOptions } from './options';
import { HERDLESS_CACHE } from './tokens';

const REGISTRATION = Symbol('herdless.nestjs.registration');

/**
 * The module's cache, made the default for @Cached while the application runs. Nest calls the
 * lifecycle hooks of every provider's instance, a factory's included: on shutdown this gives the default
 * back and closes the cache if the module created it. onApplicationShutdown runs once the HTTP server
 * has closed and every onModuleDestroy and beforeApplicationShutdown hook has run, so requests and
 * other providers' cleanup still find the cache open.
 */
class Registration implements OnApplicationShutdown {
  private readonly installation: Installation;

  constructor(
    readonly cache: Cache,
    private readonly owned: boolean,
  ) {
    this.installation = install(cache);
  }

  async onApplicationShutdown(): Promise<void> {
    uninstall(this.installation);
    // A cache the application passed in is its own to close; close() also leaves open a client passed in.
    if (this.owned) await this.cache.close();
  }
}

// The options were checked when they were given, as createCache() checks them.
function register(checked: Checked): Registration {
  return 'cache' in checked ? new Registration(checked.cache, false) : new Registration(createCache(checked.options), true);
}

function dynamic(registration: Provider, imports?: DynamicModule['imports']): DynamicModule {
  return {
    module: HerdlessModule,
    global: true,
    imports: imports ?? [],
    providers: [
      registration,
      { provide: HERDLESS_CACHE, useFactory: (registered: Registration) => registered.cache, inject: [REGISTRATION] },
      { provide: Cache, useExisting: HERDLESS_CACHE },
    ],
    exports: [HERDLESS_CACHE, Cache],
  };
}

/**
 * A global Nest module providing a herdless cache: injectable with `@InjectCache()` (or by its `Cache`
 * type), and the default cache of every `@Cached` method and `cached()` function that names none, so
 * decorated providers need no wiring. On application shutdown it restores the default cache it replaced
 * and closes the cache if it created it; a cache or a Redis client you passed in stays open.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [HerdlessModule.forRoot({ redis: { url: process.env.REDIS_URL }, namespace: 'api' })],
 *   controllers: [ProductController],
 *   providers: [ProductService],
 * })
 * export class AppModule {}
 * ```
 */
export class HerdlessModule {
  /**
   * The module with a cache created from these options (as `createCache()` takes them) and closed on
   * shutdown, or with `{ cache }`, a cache you created and close yourself. Options are checked here: a
   * mistake throws `InvalidOptionError`.
   *
   * @example
   * ```ts
   * HerdlessModule.forRoot({ redis: { url: process.env.REDIS_URL }, namespace: 'api', ttl: '5m' })
   * HerdlessModule.forRoot({ cache })   // a cache from createCache(), left open on shutdown
   * ```
   */
  static forRoot(options?: HerdlessModuleOptions): DynamicModule {
    const where = 'HerdlessModule.forRoot';
    const checked = checkModuleOptions(options, where, 'the argument');
    return dynamic({ provide: REGISTRATION, useFactory: () => register(checked) });
  }

  /**
   * The module with options from a factory, called with the providers named in `inject` (from the
   * modules in `imports`); what it returns is what `forRoot()` takes. A mistake in these options throws
   * `InvalidOptionError` here; one in what the factory returns, when Nest calls it.
   *
   * @example
   * ```ts
   * HerdlessModule.forRootAsync({
   *   imports: [ConfigModule],
   *   useFactory: (config: ConfigService) => ({ redis: { url: config.get('REDIS_URL') }, namespace: 'api' }),
   *   inject: [ConfigService],
   * })
   * ```
   */
  static forRootAsync(options: HerdlessModuleAsyncOptions): DynamicModule {
    const where = 'HerdlessModule.forRootAsync';
    const { imports, useFactory, inject } = checkAsyncOptions(options);
    return dynamic(
      {
        provide: REGISTRATION,
        useFactory: async (...args: unknown[]) => register(checkModuleOptions(await useFactory(...args), where, 'what useFactory returned')),
        inject: inject ?? [],
      },
      imports,
    );
  }
}
