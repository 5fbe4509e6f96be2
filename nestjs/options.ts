import type { FactoryProvider, ModuleMetadata } from '@nestjs/common';
import { checkCache } from '../decorators/options';
import { Cache } from '../src/cache';
import { checkedAt, InvalidOptionError } from '../src/errors';
import { settings, type CacheOptions } from '../src/options';

/**
 * A cache you created and close yourself, for `HerdlessModule.forRoot({ cache })`: the module provides it
 * and makes it the default for `@Cached`, and leaves it open on shutdown.
 */
export interface HerdlessExistingCache {
  /** A cache from `createCache()`. */
  cache: Cache;
}

/**
 * What `HerdlessModule.forRoot()` takes, and what a `forRootAsync()` factory returns: options for a cache
 * the module creates (and closes on shutdown), as `createCache()` takes them, or `{ cache }`.
 */
export type HerdlessModuleOptions = CacheOptions | HerdlessExistingCache;

/**
 * `HerdlessModule.forRootAsync()`: the options come from a factory, which Nest calls with the providers
 * named in `inject` (from the modules in `imports`), as for any Nest factory provider.
 */
export interface HerdlessModuleAsyncOptions {
  /** Modules whose exported providers `inject` names, e.g. `[ConfigModule]`. */
  imports?: ModuleMetadata['imports'];
  /** Returns (or resolves to) the module's options; called once, with the `inject` providers in order. */
  useFactory: (...args: any[]) => HerdlessModuleOptions | Promise<HerdlessModuleOptions>;
  /** The providers `useFactory` is called with, e.g. `[ConfigService]`. */
  inject?: FactoryProvider['inject'];
}

/** The module's options, checked: a cache it was given, or the options of the one it creates. */
export type Checked = { readonly cache: Cache } | { readonly options: CacheOptions };

const ASYNC_OPTIONS = ['imports', 'useFactory', 'inject'] as const;

/**
 * Checks forRoot's argument, or what a forRootAsync factory returned; `where` and `what` name it in
 * errors. Cache options are checked here as createCache() checks them, so a mistake in forRoot() surfaces
 * where it was written, not when Nest later instantiates the provider.
 */
export function checkModuleOptions(options: unknown, where: string, what: string): Checked {
  if (options === undefined) return { options: {} };
  if (options instanceof Cache) {
    throw new InvalidOptionError('options', options, '', `herdless: ${where}: ${what} is a Cache; pass it as { cache } (the module leaves a cache it was given open on shutdown: it is yours to close)`);
  }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    const url = typeof options === 'string' ? `; to connect to a URL, pass { redis: { url: '${options}' } }` : '';
    throw new InvalidOptionError(
      'options',
      options,
      '',
      `herdless: ${where}: ${what} must be cache options, e.g. { redis: { url: process.env.REDIS_URL }, namespace: 'api' }, or { cache } with a cache from createCache(); got ${shown(options)}${url}`,
    );
  }
  if ('cache' in options) {
    const others = Object.keys(options).filter((name) => name !== 'cache');
    if (others.length > 0) {
      throw new InvalidOptionError(
        others[0],
        undefined,
        '',
        `herdless: ${where}: { cache } takes no other options (got ${others.join(', ')}): they configure a cache the module creates; pass them to createCache() for the cache you pass, or drop 'cache'`,
      );
    }
    return { cache: checkedAt(where, () => checkCache((options as { cache: unknown }).cache, 'cache')) };
  }
  checkedAt(where, () => settings(options as CacheOptions));
  return { options: options as CacheOptions };
}

/** Checks forRootAsync's argument. */
export function checkAsyncOptions(options: unknown): HerdlessModuleAsyncOptions {
  const where = 'HerdlessModule.forRootAsync';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionError('options', options, '', `herdless: ${where}() takes { imports?, useFactory, inject? }, e.g. { imports: [ConfigModule], useFactory: (config: ConfigService) => ({ redis: { url: config.get('REDIS_URL') } }), inject: [ConfigService] }; got ${shown(options)}`);
  }
  return checkedAt(where, () => {
    for (const name of Object.keys(options)) {
      if (!(ASYNC_OPTIONS as readonly string[]).includes(name)) throw InvalidOptionError.unknown(name, ASYNC_OPTIONS);
    }
    const o = options as Partial<Record<(typeof ASYNC_OPTIONS)[number], unknown>>;
    if (typeof o.useFactory !== 'function') {
      throw new InvalidOptionError('useFactory', o.useFactory, "a function returning the cache options or { cache }, e.g. useFactory: (config: ConfigService) => ({ redis: { url: config.get('REDIS_URL') } }), with inject: [ConfigService]");
    }
    if (o.imports !== undefined && !Array.isArray(o.imports)) throw new InvalidOptionError('imports', o.imports, 'an array of modules, e.g. [ConfigModule]');
    if (o.inject !== undefined && !Array.isArray(o.inject)) throw new InvalidOptionError('inject', o.inject, 'an array of injection tokens, e.g. [ConfigService]');
    return options as HerdlessModuleAsyncOptions;
  });
}

function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'symbol') return value.toString();
  return String(value);
}
