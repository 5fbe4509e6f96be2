import { Inject } from '@nestjs/common';

/**
 * The injection token of the cache `HerdlessModule` provides. The module also provides it under the
 * `Cache` class itself, so with `emitDecoratorMetadata` a constructor parameter typed `Cache` (imported
 * as a value, not with `import type`) receives it without `@InjectCache()`.
 *
 * @example
 * ```ts
 * const cache = app.get<Cache>(HERDLESS_CACHE);
 * ```
 */
export const HERDLESS_CACHE: unique symbol = Symbol('herdless.cache');

/**
 * Injects the cache `HerdlessModule` provides, as a constructor parameter or a property.
 *
 * @example
 * ```ts
 * @Injectable()
 * class PriceService {
 *   constructor(@InjectCache() private readonly cache: Cache) {}
 *
 *   price(sku: string): Promise<number> {
 *     return this.cache.getOrSet(`price:${sku}`, () => this.fetchPrice(sku), { ttl: '30s' });
 *   }
 * }
 * ```
 */
export const InjectCache = (): PropertyDecorator & ParameterDecorator => Inject(HERDLESS_CACHE);
